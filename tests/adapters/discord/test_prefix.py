"""Prefix commands and message triggers, through dpytest (discord.py's real message pipeline)."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.ext import commands
from discord.ext import test as dpytest
from discord.ext.test import backend

from bot.adapters.discord import NO_MENTIONS
from bot.adapters.discord.split import DISCORD_LIMIT
from tests.adapters.discord.conftest import RigFactory
from tests.adapters.discord.demo_plugin import LONG_TEXT, DemoPlugin


def sent() -> list[discord.Message]:
    messages = []
    while not dpytest.sent_queue.empty():
        messages.append(dpytest.get_message())
    return messages


def assert_no_mentions(calls: list[dict[str, Any]]) -> None:
    assert calls
    for call in calls:
        mentions = call["allowed_mentions"]
        assert mentions.to_dict() == NO_MENTIONS.to_dict() == {"parse": []}
        assert not mentions.everyone and not mentions.users and not mentions.roles
        assert not mentions.replied_user


async def test_prefix_command_is_answered_as_a_reply(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin], discord={"command_prefix": "!"})
    author = rig.driver.members[0]
    message = await dpytest.message("!demo echo once upon a time", member=0)
    [reply] = sent()
    assert reply.content == f"{author.display_name} said: once upon a time"
    calls = rig.outbox.with_content()
    assert calls[-1]["message_reference"]["message_id"] == message.id
    assert_no_mentions(calls)


async def test_mention_works_as_a_prefix(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await dpytest.message(f"<@{rig.bot.user.id}> demo echo hi")
    [reply] = sent()
    assert reply.content.endswith("said: hi")


async def test_plain_messages_reach_triggers_and_nothing_else(make_rig: RigFactory) -> None:
    await make_rig(plugins=[DemoPlugin])
    await dpytest.message("just chatting about foxes")
    await dpytest.message("! nothing to see here")
    assert sent() == []
    await dpytest.message("well hello bot, how are you?")
    [reply] = sent()
    assert reply.content.startswith("Hello, ")


async def test_unknown_command_gets_a_hint(make_rig: RigFactory) -> None:
    await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!demo ecko hi")
    [reply] = sent()
    assert "don't know the command" in reply.content


async def test_long_reply_is_split_into_messages(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!demo long")
    parts = [m.content for m in sent()]
    assert len(parts) >= 3
    assert all(len(p) <= DISCORD_LIMIT for p in parts)
    assert all(p.startswith("Chapter ") for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(LONG_TEXT.split())
    assert_no_mentions(rig.outbox.with_content())


async def test_mentions_never_ping(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!demo ping")
    [reply] = sent()
    assert reply.content
    assert_no_mentions(rig.outbox.with_content())


async def test_admin_command_needs_manage_server(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!demo admin", member=1)
    [denied] = sent()
    assert "Manage Guild" in denied.content or "Manage Server" in denied.content
    assert "admin things done" not in denied.content

    guild = rig.driver.guild
    role = backend.make_role(
        "Admins", guild, permissions=discord.Permissions(manage_guild=True).value
    )
    await dpytest.add_role(rig.driver.members[1], role)
    await dpytest.message("!demo admin", member=1)
    [allowed] = sent()
    assert allowed.content == "admin things done"


async def test_plugin_switches_need_manage_server_on_prefix_commands_too(
    make_rig: RigFactory,
) -> None:
    await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!plugin disable demo", member=0)
    [denied] = sent()
    assert "permission" in denied.content
    await dpytest.message("!demo echo still on")
    [reply] = sent()
    assert reply.content.endswith("still on")


async def test_file_attachment_is_uploaded(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await dpytest.message("!demo file")
    [reply] = sent()  # dpytest drops the text of multipart messages; the outbox has it
    assert [a.filename for a in reply.attachments] == ["story.md"]
    call = rig.outbox.with_content()[-1]
    assert call["content"] == "Here is your story."
    assert [f.filename for f in call["files"]] == ["story.md"]


async def test_owner_syncs_commands_to_a_guild(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    uploaded: list[tuple[int | None, list[str]]] = []

    async def bulk_guild(
        application_id: int, guild_id: int, payload: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        uploaded.append((guild_id, [c["name"] for c in payload]))
        return [
            {
                **c,
                "id": str(i + 1),
                "application_id": str(application_id),
                "version": "1",
                "default_member_permissions": c.get("default_member_permissions"),
            }
            for i, c in enumerate(payload)
        ]

    monkeypatch.setattr(rig.bot.tree._http, "bulk_upsert_guild_commands", bulk_guild)
    rig.bot._connection.application_id = rig.bot.user.id
    rig.bot.owner_ids = {rig.driver.members[1].id}
    with pytest.raises(commands.NotOwner):
        await dpytest.message("!sync here", member=0)
    [refused] = sent()
    assert "owner" in refused.content
    assert uploaded == []

    rig.bot.owner_ids = {rig.driver.members[0].id}
    await dpytest.message("!sync here", member=0)
    [done] = sent()
    assert done.content.startswith("Synced ")
    [(guild_id, names)] = uploaded
    assert guild_id == rig.driver.guild.id
    assert {"help", "plugins", "plugin", "demo"} <= set(names)
