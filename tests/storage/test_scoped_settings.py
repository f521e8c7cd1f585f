from __future__ import annotations

import pytest

from bot.errors import ConfigError
from storage.store import Store


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
