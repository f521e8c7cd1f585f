"""Recent channel messages, bounded per channel (written through group commit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from bot.records import ChannelMessage
from bot.types import ChannelRef
from storage.engine import Database
from storage.group_commit import GroupCommit
from storage.models import channel_messages
from storage.repositories._base import aware_now, channel_key, now


@dataclass(frozen=True, slots=True)
class _NewMessage:
    channel_key: str
    message_id: str
    author_id: str
    author_name: str
    text: str


class MessageRepository:
    """Keeps the newest ``cap`` messages of each channel for readers.

    Older ones are deleted on append, for speed once per ``cap // 10`` appends to a channel
    (so a channel's table rows may exceed ``cap`` by that many; :meth:`recent` never returns
    more than ``cap``). Appends go through group commit: one transaction per batch.
    """

    def __init__(self, db: Database, group_commit: GroupCommit, *, cap: int) -> None:
        self._db = db
        self._group_commit = group_commit
        self.cap = cap
        self._unpruned: dict[str, int] = {}
        """Appends per channel since its last pruning (touched only by the writer)."""

    async def append(
        self,
        channel: ChannelRef | str,
        *,
        author_id: str,
        author_name: str,
        text: str,
        message_id: str = "",
    ) -> ChannelMessage:
        """Store a message seen in ``channel``; committed when this returns."""
        item = _NewMessage(channel_key(channel), message_id, author_id, author_name, text)
        message: ChannelMessage = await self._group_commit.submit(self._append_batch, item)
        return message

    def _append_batch(self, conn: Connection, items: list[_NewMessage]) -> list[ChannelMessage]:
        created = now()
        rows: list[dict[str, Any]] = [
            {
                "channel_key": m.channel_key,
                "message_id": m.message_id,
                "author_id": m.author_id,
                "author_name": m.author_name,
                "text": m.text,
                "created_at": created,
            }
            for m in items
        ]
        if self._db.is_sqlite:
            # One executemany with ids assigned here (the write lock is held since BEGIN
            # IMMEDIATE), instead of one INSERT ... RETURNING per message.
            first = (conn.execute(select(func.max(channel_messages.c.id))).scalar() or 0) + 1
            for offset, row in enumerate(rows):
                row["id"] = first + offset
            conn.execute(insert(channel_messages), rows)
            ids = [row["id"] for row in rows]
        else:
            ids = [
                conn.execute(
                    insert(channel_messages).values(**row).returning(channel_messages.c.id)
                ).scalar_one()
                for row in rows
            ]
        stored = [
            ChannelMessage(
                new_id, m.channel_key, m.message_id, m.author_id, m.author_name, m.text, created
            )
            for new_id, m in zip(ids, items, strict=True)
        ]
        for m in items:
            self._unpruned[m.channel_key] = self._unpruned.get(m.channel_key, 0) + 1
        prune_every = max(1, self.cap // 10)
        for key in sorted({m.channel_key for m in items}):
            if self._unpruned[key] < prune_every:
                continue
            self._unpruned[key] = 0
            oldest_kept = (
                select(channel_messages.c.id)
                .where(channel_messages.c.channel_key == key)
                .order_by(channel_messages.c.id.desc())
                .offset(self.cap - 1)
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                delete(channel_messages).where(
                    channel_messages.c.channel_key == key, channel_messages.c.id < oldest_kept
                )
            )
        return stored

    async def recent(
        self, channel: ChannelRef | str, *, limit: int | None = None
    ) -> list[ChannelMessage]:
        """The newest messages of the channel, oldest first."""
        query = (
            select(channel_messages)
            .where(channel_messages.c.channel_key == channel_key(channel))
            .order_by(channel_messages.c.id.desc())
            .limit(min(limit or self.cap, self.cap))
        )
        async with self._db.read() as conn:
            rows = list(await conn.execute(query))
        return [
            ChannelMessage(
                id=r.id,
                channel_key=r.channel_key,
                message_id=r.message_id,
                author_id=r.author_id,
                author_name=r.author_name,
                text=r.text,
                created_at=aware_now(r.created_at),
            )
            for r in reversed(rows)
        ]
