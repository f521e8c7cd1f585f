"""Helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.types import ChannelRef


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def aware_now(value: datetime) -> datetime:
    result = aware(value)
    assert result is not None
    return result


def channel_key(channel: ChannelRef | str) -> str:
    return channel if isinstance(channel, str) else channel.key


async def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update-columns, on SQLite and PostgreSQL."""
    module: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = module.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
    )
    await conn.execute(stmt)
