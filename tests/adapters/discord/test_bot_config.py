"""The bot object built from settings: intents, prefixes, sharding."""

from __future__ import annotations

from typing import Any

import pytest
from discord.ext import commands

from bot.adapters.discord import ShardedStoryloomBot, StoryloomBot, build_discord_bot, intents_for
from bot.errors import ConfigError


async def test_default_bot_is_unsharded_with_minimal_intents(make_app: Any) -> None:
    app = await make_app()
    bot = build_discord_bot(app, app.settings)
    assert type(bot) is StoryloomBot
    intents = intents_for(app.settings)
    assert intents.guilds and intents.guild_messages and intents.message_content
    assert not intents.members and not intents.presences
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == {"parse": []}


async def test_message_content_intent_can_be_left_off(make_app: Any) -> None:
    app = await make_app(discord={"message_content_intent": False})
    assert not build_discord_bot(app, app.settings).intents.message_content


async def test_shard_ranges_make_an_auto_sharded_bot(make_app: Any) -> None:
    app = await make_app(discord={"shard_count": 4, "shard_ids": [2, 3]})
    bot = build_discord_bot(app, app.settings)
    assert isinstance(bot, ShardedStoryloomBot) and isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count == 4 and bot.shard_ids == [2, 3]


@pytest.mark.parametrize(
    "discord", [{"shard_ids": [0]}, {"shard_count": 2, "shard_ids": [2]}, {"shard_count": 0}]
)
async def test_bad_shard_settings_are_config_errors(
    make_app: Any, discord: dict[str, object]
) -> None:
    app = await make_app()
    settings = app.settings.model_copy(
        update={"discord": app.settings.discord.model_copy(update=discord)}
    )
    with pytest.raises(ConfigError, match="shard"):
        build_discord_bot(app, settings)


async def test_commands_are_synced_on_start_only_to_listed_guilds(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_app(discord={"sync_guild_ids": [111, 222]})
    bot = build_discord_bot(app, app.settings)
    uploads: list[tuple[str, int | None]] = []

    async def guild_upsert(
        application_id: int, guild_id: int, payload: list[dict[str, Any]]
    ) -> list[Any]:
        uploads.append(("guild", guild_id))
        return [
            {**c, "id": str(i + 1), "application_id": str(application_id), "version": "1"}
            for i, c in enumerate(payload)
        ]

    async def global_upsert(application_id: int, payload: list[dict[str, Any]]) -> list[Any]:
        uploads.append(("global", None))
        return []

    monkeypatch.setattr(bot.tree._http, "bulk_upsert_guild_commands", guild_upsert)
    monkeypatch.setattr(bot.tree._http, "bulk_upsert_global_commands", global_upsert)
    bot._connection.application_id = 42
    await bot.setup_hook()
    assert uploads == [("guild", 111), ("guild", 222)]  # never a global sync on start


async def test_no_sync_on_start_by_default(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = await make_app()
    bot = build_discord_bot(app, app.settings)

    async def upsert(*args: Any) -> list[Any]:
        raise AssertionError("synced on start")

    monkeypatch.setattr(bot.tree._http, "bulk_upsert_guild_commands", upsert)
    monkeypatch.setattr(bot.tree._http, "bulk_upsert_global_commands", upsert)
    await bot.setup_hook()


def test_invite_url_asks_for_commands_and_only_the_needed_permissions() -> None:
    from urllib.parse import parse_qs, urlparse

    import discord

    from bot.adapters.discord import REQUIRED_PERMISSIONS, invite_url

    query = parse_qs(urlparse(invite_url(123456789012345678)).query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == REQUIRED_PERMISSIONS
    assert granted.send_messages and granted.attach_files and granted.read_message_history
    assert granted.create_public_threads and granted.send_messages_in_threads  # thread=yes
    assert not granted.administrator and not granted.mention_everyone and not granted.manage_guild
