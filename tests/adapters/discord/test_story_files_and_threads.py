"""Files and threads on Discord, through discord.py's real objects: ``/story import`` with a file
given as a slash-command attachment option or attached to a prefix command's message (the bytes
come from the CDN stand-in, only when read, only within the limit), and ``/story start
thread=yes`` opening a public thread (the thread endpoints' stand-in answers with Discord's
payload shape) where the story then lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord
from discord.ext import test as dpytest

from bot.types import ChannelRef
from plugins.story.commands.lifecycle import MAX_IMPORT_BYTES
from plugins.story.plugin import StoryPlugin
from tests.adapters.discord.conftest import DiscordRig, RigFactory
from tests.adapters.discord.harness import FileOption


def _here(rig: DiscordRig, channel_id: int | None = None) -> ChannelRef:
    return ChannelRef(
        channel_id=str(channel_id or rig.driver.channel.id), guild_id=str(rig.driver.guild.id)
    )


async def _exports(rig: DiscordRig) -> tuple[str, str]:
    """A story played through slash commands, ended; its JSON and Markdown exports."""
    driver = rig.driver
    await driver.slash("story start", premise="A lighthouse keeper finds a map", title="Beam")
    await driver.slash("story add", text="The map was drawn in salt.\n\nIt smelled of rain.")
    await driver.slash("story add", text="Mira folded it twice.", member=1)
    store = rig.app.store
    story = await store.stories.get_active(_here(rig))
    assert story is not None
    exports = await store.export_story(story, "json"), await store.export_story(story, "md")
    await driver.slash("story end")
    return exports


def _turns(turns: list[Any]) -> list[tuple[str, str, str]]:
    return [(t.kind.value, t.author_name, t.text) for t in turns]


async def test_slash_import_reads_the_attached_file(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    as_json, as_md = await _exports(rig)
    store = rig.app.store
    original = await store.stories.list_for_channel(_here(rig), limit=1)
    before = _turns(await store.turns.all(original[0].id))

    rig.webhook.requests.clear()
    await rig.driver.slash("story import", file=FileOption("beam-1.md", as_md.encode()))
    assert "Imported *Beam* (2 turns, free)" in rig.webhook.public_texts()[-1]
    assert len(rig.cdn.downloads) == 1
    imported = await store.stories.get_active(_here(rig))
    assert imported is not None and imported.title == "Beam"
    assert _turns(await store.turns.all(imported.id)) == before

    await rig.driver.slash("story end")
    await rig.driver.slash(
        "story import", file=FileOption("beam-1.json", as_json.encode(), "application/json")
    )
    assert "Imported *Beam* (2 turns, free)" in rig.webhook.public_texts()[-1]


async def test_too_large_and_unreadable_files_are_refused_without_a_trace(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    as_json, _ = await _exports(rig)
    rig.webhook.requests.clear()
    # Discord says how big the file is: one over the limit is never downloaded.
    huge = FileOption("beam.json", as_json.encode(), size=25 * MAX_IMPORT_BYTES)
    await rig.driver.slash("story import", file=huge)
    [answer] = rig.webhook.requests[-1:]
    assert answer.ephemeral and "is too large (25.0 MB); the limit is 1.0 MB" in answer.content
    assert rig.cdn.downloads == []
    # A file whose bytes turn out bigger than Discord said is refused after the download.
    await rig.driver.slash(
        "story import", file=FileOption("beam.json", b"{" * (MAX_IMPORT_BYTES + 1), size=10)
    )
    assert "too large (1,000,001 bytes); the limit is 1,000,000 bytes" in (
        rig.webhook.requests[-1].content or ""
    )
    for request in rig.webhook.requests:
        assert "Traceback" not in (request.content or "")
    assert await rig.app.store.stories.get_active(_here(rig)) is None


async def test_a_lost_file_says_so(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    original = rig.cdn.host

    def lost(filename: str, data: bytes | Exception) -> str:
        return original(filename, discord.NotFound(_Response(404), "asset not found"))

    rig.cdn.host = lost  # type: ignore[method-assign]
    await rig.driver.slash("story import", file=FileOption("beam.md", b"# Beam"))
    answer = rig.webhook.requests[-1]
    assert answer.ephemeral
    assert answer.content == "`beam.md` is gone from Discord (deleted?). Attach it again and retry."


class _Response:
    """What discord.py's HTTP errors read from an aiohttp response."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "Not Found"


async def test_prefix_import_reads_the_message_attachment(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    rig = await make_rig(plugins=[StoryPlugin], discord={"command_prefix": "!"})
    _, as_md = await _exports(rig)
    path = tmp_path / "beam.md"
    path.write_text(as_md, encoding="utf-8")
    rig.cdn.files[str(path)] = path.read_bytes()  # dpytest puts the path in the URL
    while not dpytest.sent_queue.empty():
        dpytest.get_message()
    await dpytest.message("!story import", attachments=[str(path)])
    reply = dpytest.get_message()
    assert "Imported *Beam* (2 turns, free)" in reply.content
    assert rig.cdn.downloads == [str(path)]
    # A picture sent with a turn is no file for the story: it is ignored, the turn counts.
    await dpytest.message("!story add The gulls went quiet.", attachments=[str(path)])
    story = await rig.app.store.stories.get_active(_here(rig))
    assert story is not None
    assert (await rig.app.store.turns.all(story.id))[-1].text == "The gulls went quiet."
    assert rig.cdn.downloads == [str(path)]


async def test_slash_start_in_a_thread(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    driver, store = rig.driver, rig.app.store
    await driver.slash(
        "story start", premise="A lighthouse keeper finds a map", title="Beam", thread=True
    )
    [request] = rig.threads.requests
    assert request == {
        "channel_id": driver.channel.id,
        "name": "Beam",
        "auto_archive_duration": 10080,
        "type": discord.ChannelType.public_thread.value,
        "invitable": True,
        "rate_limit_per_user": None,
        "reason": None,
    }
    [thread] = driver.guild.threads
    assert thread.parent_id == driver.channel.id and thread.name == "Beam"
    opening = dpytest.get_message()
    assert opening.channel.id == thread.id and "**Beam** begins" in opening.content
    assert rig.webhook.public_texts()[-1] == "🧵 The story goes on in the thread **Beam**."
    story = await store.stories.get_active(_here(rig, thread.id))
    assert story is not None and story.title == "Beam"
    assert await store.stories.get_active(_here(rig)) is None  # not in the channel itself

    in_thread = _channel_payload(thread)
    await driver.slash("story add", text="The lamp flickered.", channel=in_thread, member=1)
    assert [t.text for t in await store.turns.all(story.id)] == ["The lamp flickered."]
    # Asking again inside the thread starts nothing new there.
    await driver.slash("story end", channel=in_thread)
    await driver.slash("story start", premise="Another map", thread=True, channel=in_thread)
    assert len(rig.threads.requests) == 1
    assert rig.webhook.public_texts()[-1].startswith(
        "🧵 This is a thread already, so the story starts right here.\n📖"
    )


def _channel_payload(thread: discord.Thread) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "type": 11,
        "guild_id": str(thread.guild.id),
        "parent_id": str(thread.parent_id),
        "name": thread.name,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 10080,
            "archive_timestamp": discord.utils.utcnow().isoformat(),
            "locked": False,
        },
    }


async def test_without_the_permission_nothing_starts_and_the_answer_says_what_to_grant(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(plugins=[StoryPlugin])
    cannot = discord.Permissions.text()
    cannot.create_public_threads = False
    await rig.driver.slash(
        "story start", premise="A lighthouse keeper", thread=True, app_permissions=cannot
    )
    answer = rig.webhook.requests[-1]
    assert answer.ephemeral
    assert "I need the **Create Public Threads** permission there." in answer.content
    assert "Server Settings → Roles" in answer.content and "without `thread`" in answer.content
    assert rig.threads.requests == []
    assert await rig.app.store.stories.get_active(_here(rig)) is None
    # Discord refusing anyway (permissions changed meanwhile) reads the same.
    rig.threads.refuse = discord.Forbidden(_Response(403), "Missing Permissions")
    await rig.driver.slash("story start", premise="A lighthouse keeper", thread=True)
    assert "**Create Public Threads** and **Send Messages in Threads**" in (
        rig.webhook.requests[-1].content or ""
    )
    assert await rig.app.store.stories.get_active(_here(rig)) is None


async def test_prefix_start_grows_the_thread_from_the_command(make_rig: RigFactory) -> None:
    rig = await make_rig(plugins=[StoryPlugin], discord={"command_prefix": "!"})
    channel, everyone = rig.driver.channel, rig.driver.guild.default_role
    # dpytest's bot role may not open threads: refused, with what to grant.
    await dpytest.message("!story start thread=yes A map drawn in salt")
    refused = dpytest.get_message()
    assert "I need the **Create Public Threads** and **Send Messages in Threads** permissions" in (
        refused.content
    )
    assert rig.threads.requests == [] and dpytest.sent_queue.empty()
    await dpytest.set_permission_overrides(
        everyone, channel, create_public_threads=True, send_messages_in_threads=True
    )
    message = await dpytest.message("!story start thread=yes A map drawn in salt")
    [request] = rig.threads.requests
    assert request["message_id"] == message.id and request["name"] == "A map drawn in salt"
    [thread] = rig.driver.guild.threads
    posted = [dpytest.get_message() for _ in range(2)]
    assert {m.channel.id for m in posted} == {thread.id, rig.driver.channel.id}
    opening = next(m for m in posted if m.channel.id == thread.id)
    assert "A new story begins" in opening.content
    story = await rig.app.store.stories.get_active(_here(rig, thread.id))
    assert story is not None and story.premise == "A map drawn in salt"
