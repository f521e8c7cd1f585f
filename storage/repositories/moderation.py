"""Moderation events: the audit log (hash and length of the text, not the text, by default)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select

from bot.records import ModerationDirection, ModerationEvent
from storage.engine import Database
from storage.models import moderation_events
from storage.repositories._base import aware_now, now


def event_from_row(row: Row[Any]) -> ModerationEvent:
    m = row._mapping
    return ModerationEvent(
        id=m["id"],
        created_at=aware_now(m["created_at"]),
        guild_id=m["guild_id"],
        channel_id=m["channel_id"],
        user_id=m["user_id"],
        direction=ModerationDirection(m["direction"]),
        rule=m["rule"],
        category=m["category"],
        action=m["action"],
        score=m["score"],
        excerpt_sha256=m["excerpt_sha256"],
        excerpt_len=m["excerpt_len"],
        excerpt=m["excerpt"],
    )


class ModerationEventRepository:
    def __init__(self, db: Database, *, store_excerpts: bool = False) -> None:
        self._db = db
        self._store_excerpts = store_excerpts

    async def record(
        self,
        *,
        guild_id: str | None,
        channel_id: str | None,
        user_id: str | None,
        direction: ModerationDirection,
        rule: str,
        category: str,
        action: str,
        text: str,
        score: float | None = None,
    ) -> ModerationEvent:
        """Log a moderation decision. ``text`` is stored only as SHA-256 and length unless
        the store was opened with ``store_moderation_excerpts``."""
        values = {
            "created_at": now(),
            "guild_id": guild_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "direction": ModerationDirection(direction).value,
            "rule": rule,
            "category": category,
            "action": action,
            "score": score,
            "excerpt_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "excerpt_len": len(text),
            "excerpt": text if self._store_excerpts else None,
        }
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    insert(moderation_events).values(values).returning(moderation_events)
                )
            ).one()
        return event_from_row(row)

    async def find(
        self,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
        action: str | None = None,
        direction: ModerationDirection | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[ModerationEvent]:
        """Events matching every given filter, newest first."""
        c = moderation_events.c
        query = select(moderation_events)
        for column, value in (
            (c.guild_id, guild_id),
            (c.channel_id, channel_id),
            (c.user_id, user_id),
            (c.action, action),
            (c.direction, direction),
        ):
            if value is not None:
                query = query.where(column == str(value))
        if since is not None:
            query = query.where(c.created_at >= since.astimezone(UTC))
        query = query.order_by(c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            return [event_from_row(r) for r in await conn.execute(query)]
