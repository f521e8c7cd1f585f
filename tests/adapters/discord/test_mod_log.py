"""``/mod`` on Discord: moderators manage their word list with prefix commands, and every block
is summarised in the server's mod-log channel, without the text and without pinging anyone."""

from __future__ import annotations

import logging

import discord
import pytest
from discord.ext import test as dpytest
from discord.ext.test import backend

from bot.adapters.discord import NO_MENTIONS
from tests.adapters.discord.conftest import RigFactory
from tests.adapters.discord.demo_plugin import DemoPlugin

WORD = "zorblax"


def sent() -> list[discord.Message]:
    messages = []
    while not dpytest.sent_queue.empty():
        messages.append(dpytest.get_message())
    return messages


async def test_block_is_summarised_in_the_mod_log_channel(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin], moderation={"classifier_enabled": False})
    guild, story_channel = rig.driver.guild, rig.driver.channel
    mod_channel = backend.make_text_channel("mod-log", guild)
    admin, player = rig.driver.members[1], rig.driver.members[0]
    role = backend.make_role(
        "Mods", guild, permissions=discord.Permissions(manage_guild=True).value
    )
    await dpytest.add_role(admin, role)

    await dpytest.message("!mod log here", channel=mod_channel, member=admin)
    await dpytest.message(f"!mod words add {WORD}", channel=mod_channel, member=admin)
    replies = sent()
    assert "summarised in this channel" in replies[0].content
    assert f"`{WORD}`" in replies[1].content, "moderators see their own word"

    await dpytest.message(f"!demo echo the {WORD} is hungry", channel=story_channel, member=player)
    await rig.app.mod_log.drain()
    notice, summary = sent()
    assert notice.channel.id == story_channel.id and "not accepted" in notice.content
    assert summary.channel.id == mod_channel.id
    assert summary.content.startswith(f"Blocked input from <@{player.id}> in <#{story_channel.id}>")
    assert WORD not in summary.content and "hungry" not in summary.content
    [call] = [c for c in rig.outbox.with_content() if c["content"] == summary.content]
    assert call["allowed_mentions"].to_dict() == NO_MENTIONS.to_dict()

    await dpytest.message("!mod rules", member=player)
    [denied] = sent()
    assert "Manage Server" in denied.content


async def test_a_missing_mod_log_channel_is_logged_and_the_flag_stands(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig(
        plugins=[DemoPlugin],
        moderation={"classifier_enabled": False},
        discord={"mod_log_channel_id": 4242},
    )
    with caplog.at_level(logging.WARNING, logger="bot.moderation.mod_log"):
        await dpytest.message("!demo echo write to bob@example.com", member=0)
        await rig.app.mod_log.drain()
    assert any("mod-log channel 4242" in r.getMessage() for r in caplog.records), caplog.text
    [reply] = sent()  # the flagged text is still echoed (redacted); no summary anywhere
    assert "example.com" not in reply.content
    assert len(await rig.app.store.moderation.find(action="flag")) >= 1


async def test_mod_commands_are_a_hidden_slash_group_with_private_answers(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(plugins=[DemoPlugin], moderation={"classifier_enabled": False})
    group = rig.bot.tree.get_command("mod")
    assert isinstance(group, discord.app_commands.Group)
    assert group.default_permissions == discord.Permissions(manage_guild=True) and group.guild_only
    words = group.get_command("words")
    assert isinstance(words, discord.app_commands.Group)
    assert {c.name for c in words.commands} == {"add", "remove"}

    await rig.driver.slash(
        "mod words add", words=WORD, permissions=discord.Permissions(manage_guild=True)
    )
    answers = [r for r in rig.webhook.requests if r.content]
    assert answers and all(r.ephemeral for r in answers)
    assert f"`{WORD}`" in (answers[-1].content or "")
    assert rig.webhook.public_texts() == []


async def test_new_mod_commands_are_slash_commands_with_choices(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin], moderation={"classifier_enabled": False})
    tree = rig.bot.tree
    group = tree.get_command("mod")
    assert isinstance(group, discord.app_commands.Group)
    assert group.default_permissions == discord.Permissions(manage_guild=True)
    category = group.get_command("category")
    assert isinstance(category, discord.app_commands.Command)
    options = {o["name"]: o for o in category.to_dict(tree)["options"]}
    assert [c["value"] for c in options["name"]["choices"]] == [
        "profanity",
        "sexual",
        "offensive",
        "custom",
        "invite",
    ]
    assert [c["value"] for c in options["handling"]["choices"]] == ["block", "flag", "default"]
    reset = group.get_command("reset")
    assert isinstance(reset, discord.app_commands.Command)
    assert [c["value"] for c in reset.to_dict(tree)["options"][0]["choices"]] == ["confirm"]

    admin = discord.Permissions(manage_guild=True)
    await rig.driver.slash("mod category", name="invite", handling="block", permissions=admin)
    assert "`invite` are now always blocked" in rig.webhook.texts()[-1]
    await rig.driver.slash("mod reset", confirm="confirm", permissions=admin)
    assert "back to the bot's defaults" in rig.webhook.texts()[-1]
    assert rig.webhook.requests[-1].ephemeral
