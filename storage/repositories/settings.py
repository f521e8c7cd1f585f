"""Scoped settings in the style of Red-DiscordBot's Config.

Defaults are registered up front per namespace; a value set for a channel overrides the guild's,
which overrides the default. Values are JSON. Plugin enablement is a setting like any other
(namespace ``plugins``, key = plugin name, default enabled).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import ConfigError
from storage.engine import Database
from storage.models import scoped_settings
from storage.repositories._base import now, upsert

PLUGINS_NAMESPACE = "plugins"

_Scope = tuple[str, str]
_KEYS = ("namespace", "key", "guild_id", "channel_id")


def _scope(guild_id: str | None, channel_id: str | None) -> _Scope:
    return (guild_id or "", channel_id or "")


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy(value: Any) -> Any:
    """A copy callers may change (plain scalars are immutable: no copy needed)."""
    return value if isinstance(value, _IMMUTABLE) else copy.deepcopy(value)


class ScopedSettings:
    """Per-guild and per-channel settings with registered defaults.

    Reads are cached in-process for ``cache_ttl_s`` (changes made through this object show at
    once; changes made by another process show after the TTL).
    """

    def __init__(self, db: Database, *, cache_ttl_s: float = 5.0) -> None:
        self._db = db
        self._defaults: dict[str, dict[str, Any]] = {PLUGINS_NAMESPACE: {}}
        self._ttl = cache_ttl_s
        self._cache: dict[_Scope, tuple[float, dict[tuple[str, str], Any]]] = {}

    def register_defaults(self, namespace: str, **defaults: Any) -> None:
        """Declare the keys of ``namespace`` and their default values (JSON-serialisable)."""
        self._defaults.setdefault(namespace, {}).update(copy.deepcopy(defaults))

    def defaults(self, namespace: str) -> dict[str, Any]:
        return copy.deepcopy(self._defaults.get(namespace, {}))

    async def get(
        self,
        namespace: str,
        key: str,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
    ) -> Any:
        """The effective value: channel override, else guild override, else the default."""
        default = self._default(namespace, key)
        if channel_id is not None:
            values = await self._scope_values(_scope(guild_id, channel_id))
            if (namespace, key) in values:
                return _copy(values[(namespace, key)])
        values = await self._scope_values(_scope(guild_id, None))
        if (namespace, key) in values:
            return _copy(values[(namespace, key)])
        return _copy(default)

    async def get_all(
        self, namespace: str, *, guild_id: str | None = None, channel_id: str | None = None
    ) -> dict[str, Any]:
        """Every registered key of ``namespace`` with its effective value."""
        defaults = self._defaults.get(namespace, {})
        guild = await self._scope_values(_scope(guild_id, None))
        channel = (
            await self._scope_values(_scope(guild_id, channel_id)) if channel_id is not None else {}
        )
        result: dict[str, Any] = {}
        for key, default in defaults.items():
            name = (namespace, key)
            value = channel[name] if name in channel else guild.get(name, default)
            result[key] = _copy(value)
        return result

    async def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> None:
        """Override ``key`` for a guild (``channel_id`` None) or for one channel."""
        self._default(namespace, key)
        guild, channel = _scope(guild_id, channel_id)
        async with self._db.write() as conn:
            await self._write(conn, self._row(namespace, key, guild, channel, value))
        self._cache.pop((guild, channel), None)

    async def update(
        self,
        namespace: str,
        key: str,
        change: Callable[[Any], Any],
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> tuple[Any, Any]:
        """Replace the value at exactly this scope with ``change(value)``; returns (before, after).

        ``value`` is this scope's override, else the default. The read and the write are one
        transaction that other processes wait for (the row is locked on PostgreSQL; SQLite
        writers hold the database's write lock), so concurrent updates never lose each other's
        changes. An exception from ``change`` leaves the stored value as it was."""
        default = self._default(namespace, key)
        guild, channel = _scope(guild_id, channel_id)
        c = scoped_settings.c
        async with self._db.write() as conn:
            await self._ensure_row(conn, self._row(namespace, key, guild, channel, default))
            row = (
                await conn.execute(
                    select(c.value)
                    .where(
                        c.namespace == namespace,
                        c.key == key,
                        c.guild_id == guild,
                        c.channel_id == channel,
                    )
                    .with_for_update()
                )
            ).first()
            before = _copy(row[0] if row is not None else default)
            after = change(_copy(before))
            await self._write(conn, self._row(namespace, key, guild, channel, after))
        self._cache.pop((guild, channel), None)
        return before, _copy(after)

    @staticmethod
    def _row(namespace: str, key: str, guild: str, channel: str, value: Any) -> dict[str, Any]:
        return {
            "namespace": namespace,
            "key": key,
            "guild_id": guild,
            "channel_id": channel,
            "value": value,
            "updated_at": now(),
        }

    @staticmethod
    async def _write(conn: AsyncConnection, row: dict[str, Any]) -> None:
        await upsert(conn, scoped_settings, row, keys=_KEYS, update=("value", "updated_at"))

    @staticmethod
    async def _ensure_row(conn: AsyncConnection, row: dict[str, Any]) -> None:
        """Insert ``row`` unless its key exists, so there is always a row to lock."""
        module: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
        await conn.execute(
            module.insert(scoped_settings)
            .values(**row)
            .on_conflict_do_nothing(index_elements=list(_KEYS))
        )

    async def clear(
        self,
        namespace: str,
        key: str | None = None,
        *,
        guild_id: str | None,
        channel_id: str | None = None,
    ) -> int:
        """Remove overrides (one key, or the whole namespace) at exactly this scope."""
        guild, channel = _scope(guild_id, channel_id)
        c = scoped_settings.c
        query = delete(scoped_settings).where(
            c.namespace == namespace, c.guild_id == guild, c.channel_id == channel
        )
        if key is not None:
            query = query.where(c.key == key)
        async with self._db.write() as conn:
            result = await conn.execute(query)
        self._cache.pop((guild, channel), None)
        return int(result.rowcount or 0)

    def register_plugin(self, plugin: str, *, enabled_by_default: bool = True) -> None:
        self._defaults[PLUGINS_NAMESPACE][plugin] = enabled_by_default

    async def is_plugin_enabled(
        self, plugin: str, guild_id: str | None, channel_id: str | None = None
    ) -> bool:
        """Channel setting, else guild setting, else the plugin's default (enabled)."""
        self._defaults[PLUGINS_NAMESPACE].setdefault(plugin, True)
        return bool(
            await self.get(PLUGINS_NAMESPACE, plugin, guild_id=guild_id, channel_id=channel_id)
        )

    async def set_plugin_enabled(
        self, plugin: str, enabled: bool, guild_id: str | None, channel_id: str | None = None
    ) -> None:
        self._defaults[PLUGINS_NAMESPACE].setdefault(plugin, True)
        await self.set(
            PLUGINS_NAMESPACE, plugin, bool(enabled), guild_id=guild_id, channel_id=channel_id
        )

    def _default(self, namespace: str, key: str) -> Any:
        try:
            return self._defaults[namespace][key]
        except KeyError:
            raise ConfigError(
                f"setting {namespace}.{key} is not registered (call register_defaults first)"
            ) from None

    async def _scope_values(self, scope: _Scope) -> dict[tuple[str, str], Any]:
        cached = self._cache.get(scope)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        c = scoped_settings.c
        query = select(c.namespace, c.key, c.value).where(
            c.guild_id == scope[0], c.channel_id == scope[1]
        )
        async with self._db.read() as conn:
            values = {(r[0], r[1]): r[2] for r in await conn.execute(query)}
        if self._ttl > 0:
            self._cache[scope] = (time.monotonic() + self._ttl, values)
        return values
