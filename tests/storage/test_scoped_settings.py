from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.errors import ConfigError
from storage.repositories.settings import ScopedSettings
from storage.settings import StorageSettings
from storage.store import Store, open_store


async def test_channel_overrides_guild_overrides_default(store: Store) -> None:
    s = store.settings
    s.register_defaults("story", max_turn_chars=500, presets={"temperature": 0.8})
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="11") == 500
    await s.set("story", "max_turn_chars", 300, guild_id="1")
    assert await s.get("story", "max_turn_chars", guild_id="1") == 300
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="11") == 300
    await s.set("story", "max_turn_chars", 100, guild_id="1", channel_id="11")
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="11") == 100
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="12") == 300
    assert await s.get("story", "max_turn_chars", guild_id="2", channel_id="11") == 500
    await s.set("story", "presets", {"temperature": 1.1, "top_k": 40}, guild_id="1")
    assert await s.get_all("story", guild_id="1", channel_id="11") == {
        "max_turn_chars": 100,
        "presets": {"temperature": 1.1, "top_k": 40},
    }
    # Returned values are copies: mutating them changes nothing stored or cached.
    value = await s.get("story", "presets", guild_id="2")
    value["temperature"] = 99
    assert await s.get("story", "presets", guild_id="2") == {"temperature": 0.8}
    assert await s.clear("story", "max_turn_chars", guild_id="1", channel_id="11") == 1
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="11") == 300
    assert await s.clear("story", guild_id="1") == 2
    assert await s.get("story", "max_turn_chars", guild_id="1", channel_id="11") == 500


async def test_unregistered_keys_are_refused(store: Store) -> None:
    with pytest.raises(ConfigError):
        await store.settings.get("nope", "missing", guild_id="1")
    with pytest.raises(ConfigError):
        await store.settings.set("nope", "missing", 1, guild_id="1")


async def test_plugin_enablement_per_guild_and_channel(store: Store) -> None:
    s = store.settings
    assert await s.is_plugin_enabled("poem", "1", "11")
    await s.set_plugin_enabled("poem", False, "1")
    assert not await s.is_plugin_enabled("poem", "1", "11")
    assert await s.is_plugin_enabled("poem", "2", "21")
    await s.set_plugin_enabled("poem", True, "1", "11")
    assert await s.is_plugin_enabled("poem", "1", "11")
    assert not await s.is_plugin_enabled("poem", "1", "12")
    s.register_plugin("headline", enabled_by_default=False)
    assert not await s.is_plugin_enabled("headline", None, "dm")
    await s.set_plugin_enabled("headline", True, None, "dm")
    assert await s.is_plugin_enabled("headline", None, "dm")


async def test_values_survive_a_new_store_object(store: Store, storage_settings) -> None:  # type: ignore[no-untyped-def]
    from storage.store import open_store

    store.settings.register_defaults("moderation", words=[])
    await store.settings.set("moderation", "words", ["frog*"], guild_id="1")
    other = await open_store(storage_settings)
    try:
        other.settings.register_defaults("moderation", words=[])
        assert await other.settings.get("moderation", "words", guild_id="1") == ["frog*"]
    finally:
        await other.close()


async def test_concurrent_updates_from_two_processes_lose_nothing(
    store: Store, storage_settings: StorageSettings
) -> None:
    """Two stores on one database (as two bot processes): every read-modify-write survives."""
    other = await open_store(storage_settings)
    try:
        for s in (store.settings, other.settings):
            s.register_defaults("moderation", rules={})

        def appender(word: str) -> Callable[[Any], Any]:
            def change(rules: Any) -> Any:
                return {**rules, "words": [*rules.get("words", []), word]}

            return change

        async def add(settings: ScopedSettings, prefix: str) -> None:
            for i in range(15):
                await settings.update("moderation", "rules", appender(f"{prefix}{i}"), guild_id="1")
                await asyncio.sleep(0)

        await asyncio.gather(add(store.settings, "a"), add(other.settings, "b"))
        words = (await store.settings.get("moderation", "rules", guild_id="1"))["words"]
        assert sorted(words) == sorted([f"a{i}" for i in range(15)] + [f"b{i}" for i in range(15)])
        assert [w for w in words if w.startswith("a")] == [f"a{i}" for i in range(15)]

        # A change that raises stores nothing; (before, after) come back on success.
        def refuse(rules: Any) -> Any:
            raise ConfigError("no")

        with pytest.raises(ConfigError):
            await other.settings.update("moderation", "rules", refuse, guild_id="1")
        with pytest.raises(ConfigError):
            await other.settings.update("moderation", "rules", refuse, guild_id="2")
        assert await store.settings.get("moderation", "rules", guild_id="2") == {}
        before, after = await other.settings.update(
            "moderation", "rules", lambda r: {"n": len(r["words"])}, guild_id="1"
        )
        assert len(before["words"]) == 30 and after == {"n": 30}
        assert await store.settings.get("moderation", "rules", guild_id="1") == {"n": 30}
    finally:
        await other.close()
