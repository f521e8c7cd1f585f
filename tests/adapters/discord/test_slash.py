"""Slash commands: interactions built from real payload shapes, run through the command tree."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.adapters.discord import NO_MENTIONS
from bot.adapters.discord import adapter as adapter_module
from bot.adapters.discord.adapter import OUT_OF_DATE
from bot.adapters.discord.split import DISCORD_LIMIT
from tests.adapters.discord.conftest import DiscordRig, RigFactory
from tests.adapters.discord.demo_plugin import LONG_TEXT, DemoPlugin

MANAGE_GUILD = discord.Permissions(manage_guild=True)


def kinds(rig: DiscordRig) -> list[str]:
    return [r.kind for r in rig.webhook.requests]


def assert_no_mentions(rig: DiscordRig) -> None:
    posts = [r for r in rig.webhook.requests if r.content is not None]
    assert posts
    for request in posts:
        assert request.data["allowed_mentions"] == NO_MENTIONS.to_dict()


async def test_command_tree_mirrors_the_plugin_declarations(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    tree = rig.bot.tree
    names = {c.name for c in tree.get_commands()}
    assert {"help", "plugins", "plugin", "demo"} <= names
    demo = tree.get_command("demo")
    assert isinstance(demo, discord.app_commands.Group)
    pick = demo.get_command("pick")
    assert isinstance(pick, discord.app_commands.Command)
    options = {o["name"]: o for o in pick.to_dict(tree)["options"]}
    assert options["color"]["type"] == 3 and options["color"]["required"] is True
    assert [c["value"] for c in options["color"]["choices"]] == ["red", "green"]
    assert options["count"]["type"] == 4 and options["count"]["min_value"] == 1
    assert options["count"]["max_value"] == 5 and options["count"]["description"] == "How many"
    assert options["loud"]["type"] == 5 and options["loud"]["required"] is False
    assert options["weight"]["type"] == 10 and options["weight"]["min_value"] == 0.5
    color = demo.get_command("color")
    assert isinstance(color, discord.app_commands.Command)
    assert color.to_dict(tree)["options"][0]["autocomplete"] is True
    plugin_group = tree.get_command("plugin")
    assert isinstance(plugin_group, discord.app_commands.Group)
    assert plugin_group.default_permissions == MANAGE_GUILD
    assert tree.get_command("help").default_permissions is None  # type: ignore[union-attr]


async def test_slash_command_is_deferred_then_answered(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo pick", color="green", count=3, loud=True)
    callback, edit = rig.webhook.requests
    assert callback.kind == "callback" and callback.body == {"type": 5}  # "thinking…" at once
    assert edit.kind == "edit" and edit.url.endswith("/messages/@original")
    assert edit.content == "picked 3 green loud=True weight=1.0"
    assert_no_mentions(rig)


async def test_help_lists_plugin_commands(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("help")
    assert "/demo echo" in rig.webhook.texts()[-1]


async def test_instant_command_answers_privately_without_deferring(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo secret")
    [callback] = rig.webhook.requests
    assert callback.body is not None and callback.body["type"] == 4
    assert callback.ephemeral and callback.content == "only you can see this"


async def test_a_slow_instant_command_is_still_acknowledged_in_time(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    monkeypatch.setattr(adapter_module, "INSTANT_GRACE_S", 0.01)
    DemoPlugin.gate = asyncio.Event()
    running = asyncio.create_task(rig.driver.slash("demo slow"))
    for _ in range(500):  # until the safety net has deferred
        if rig.webhook.requests:
            break
        await asyncio.sleep(0.01)
    assert [r.body for r in rig.webhook.requests] == [{"type": 5}]
    DemoPlugin.gate.set()
    await running
    assert kinds(rig) == ["callback", "edit"] and rig.webhook.texts() == ["slow done"]


async def test_permission_denied_is_private_and_nothing_is_posted(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("plugin disable", plugin="demo")
    assert kinds(rig) == ["callback", "delete", "followup"]
    notice = rig.webhook.requests[-1]
    assert (
        notice.ephemeral
        and "Manage" in (notice.content or "")
        and "permission" in (notice.content or "")
    )
    assert rig.webhook.public_texts() == []

    rig.webhook.requests.clear()
    await rig.driver.slash("plugin disable", plugin="demo", permissions=MANAGE_GUILD)
    assert "off in this server" in rig.webhook.public_texts()[-1]
    rig.webhook.requests.clear()
    await rig.driver.slash("demo echo", text="anyone there?")
    notice = rig.webhook.requests[-1]
    assert notice.ephemeral and "switched off" in (notice.content or "")
    assert rig.webhook.public_texts() == []


async def test_long_reply_becomes_original_plus_followups(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo long")
    posts = [r for r in rig.webhook.requests if r.content is not None]
    assert posts[0].kind == "edit" and {p.kind for p in posts[1:]} == {"followup"}
    parts = [p.content or "" for p in posts]
    assert len(parts) >= 3 and all(len(p) <= DISCORD_LIMIT for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(LONG_TEXT.split())
    assert_no_mentions(rig)


async def test_file_is_attached_to_the_answer(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("demo file")
    edit = rig.webhook.requests[-1]
    assert edit.kind == "edit" and edit.files == ["story.md"]
    assert edit.content == "Here is your story."


async def test_threads_inherit_the_parents_nsfw_flag(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    parent = rig.driver.channel
    parent.nsfw = True
    thread_id = parent.id + 1000
    thread = {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(rig.driver.guild.id),
        "parent_id": str(parent.id),
        "name": "a story thread",
        "owner_id": str(rig.bot.user.id),
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": discord.utils.utcnow().isoformat(),
            "locked": False,
        },
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    DemoPlugin.seen.clear()
    await rig.driver.slash("demo where", channel=thread)
    assert rig.webhook.texts()[-1] == "thread=True nsfw=True"
    channel = DemoPlugin.seen[-1].channel
    assert (channel.guild_id, channel.channel_id) == (str(rig.driver.guild.id), str(thread_id))
    assert channel.parent_id == str(parent.id)
    parent.nsfw = False
    await rig.driver.slash("demo where", channel=thread)
    assert rig.webhook.texts()[-1] == "thread=True nsfw=False"
    await rig.driver.slash("demo where")
    assert rig.webhook.texts()[-1] == "thread=False nsfw=False"


async def test_unknown_command_gets_a_private_hint(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.slash("vanished")
    [answer] = rig.webhook.requests
    assert answer.ephemeral and answer.content == OUT_OF_DATE


async def test_autocomplete_asks_the_plugin(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[DemoPlugin])
    await rig.driver.autocomplete("demo color", "name", "gr")
    [answer] = rig.webhook.requests
    assert answer.body == {
        "type": 8,
        "data": {
            "choices": [{"name": "green", "value": "green"}, {"name": "grey", "value": "grey"}]
        },
    }
