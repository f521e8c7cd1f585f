"""Lore entries (world info): keywords -> text, per story."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from bot.errors import NotFound, UsageError
from bot.records import LoreEntry
from storage.engine import Database
from storage.models import lore_entries
from storage.repositories._base import aware_now, now


def lore_from_row(row: Row[Any]) -> LoreEntry:
    m = row._mapping
    return LoreEntry(
        id=m["id"],
        story_id=m["story_id"],
        keys=tuple(m["keys"]),
        text=m["text"],
        created_by_id=m["created_by_id"],
        created_at=aware_now(m["created_at"]),
        updated_at=aware_now(m["updated_at"]),
    )


def _clean_keys(keys: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(k.strip() for k in keys if k.strip()))
    if not cleaned:
        raise UsageError("A lore entry needs at least one keyword.")
    return cleaned


class LoreRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, story_id: int, keys: Sequence[str], text: str, *, created_by_id: str
    ) -> LoreEntry:
        """Add an entry whose ``text`` is shown when any of ``keys`` appears in recent turns."""
        stamp = now()
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    insert(lore_entries)
                    .values(
                        story_id=story_id,
                        keys=_clean_keys(keys),
                        text=text,
                        created_by_id=created_by_id,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                    .returning(lore_entries)
                )
            ).one()
        return lore_from_row(row)

    async def update(
        self,
        story_id: int,
        entry_id: int,
        *,
        keys: Sequence[str] | None = None,
        text: str | None = None,
    ) -> LoreEntry:
        values: dict[str, Any] = {"updated_at": now()}
        if keys is not None:
            values["keys"] = _clean_keys(keys)
        if text is not None:
            values["text"] = text
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    update(lore_entries)
                    .where(lore_entries.c.id == entry_id, lore_entries.c.story_id == story_id)
                    .values(**values)
                    .returning(lore_entries)
                )
            ).first()
        if row is None:
            raise NotFound("There is no such lore entry in this story.")
        return lore_from_row(row)

    async def remove(self, story_id: int, entry_id: int) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(lore_entries).where(
                    lore_entries.c.id == entry_id, lore_entries.c.story_id == story_id
                )
            )
        if not result.rowcount:
            raise NotFound("There is no such lore entry in this story.")

    async def all(self, story_id: int) -> list[LoreEntry]:
        query = (
            select(lore_entries)
            .where(lore_entries.c.story_id == story_id)
            .order_by(lore_entries.c.id)
        )
        async with self._db.read() as conn:
            return [lore_from_row(r) for r in await conn.execute(query)]
