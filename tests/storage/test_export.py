from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import Blocked, StateError, UsageError
from bot.records import Story, TurnKind
from bot.types import Author
from storage.export_command import export_command
from storage.settings import StorageSettings
from storage.store import Store
from storage.story_markdown import parse_markdown
from tests.storage.conftest import ALICE, BOB, CAROL, GUILD_A_CH1, GUILD_B_CH1


async def _story(store: Store):  # type: ignore[no-untyped-def]
    story = await store.stories.create(
        GUILD_A_CH1,
        ALICE,
        title="The Cave",
        premise="Two friends find a cave.",
        memory="It is winter.",
        author_note="Slow and eerie.",
    )
    await store.lore.add(story.id, ["cave"], "The cave hums.", created_by_id=ALICE.id)
    add = store.turns.add
    await add(
        story.id, author_id=ALICE.id, author_name="Alice", kind=TurnKind.PLAYER, text="I step in."
    )
    await add(
        story.id, author_id="bot", author_name="Narrator", kind=TurnKind.BOT, text="The walls hum."
    )
    await add(
        story.id, author_id=BOB.id, author_name="Bob", kind=TurnKind.PLAYER, text="Oops, typo."
    )
    await store.turns.undo(story.id, by_user_id=BOB.id)
    await add(
        story.id,
        author_id=BOB.id,
        author_name="Bob",
        kind=TurnKind.PLAYER,
        text="I follow, ünïcode ✓.",
    )
    return story


def _told(story: Story) -> tuple[str, str, str, str]:
    """What an export carries of a story itself."""
    return story.title, story.premise, story.memory, story.author_note


async def test_markdown_export_has_authors_and_story(store: Store) -> None:
    story = await _story(store)
    md = await store.export_story(story, "md")
    assert md.startswith("# The Cave")
    assert "**Alice:** I step in." in md
    assert "The walls hum." in md
    assert "**Bob:** I follow, ünïcode ✓." in md
    assert "typo" not in md  # undone turns are not part of the story
    assert "Two friends find a cave." in md and "Written by Alice, Bob" in md
    with pytest.raises(UsageError):
        await store.export_story(story, "pdf")


async def test_json_round_trip_into_another_channel(store: Store) -> None:
    story = await _story(store)
    data = await store.export_story(story, "json")
    doc = json.loads(data)
    assert doc["format"] == "storyloom.story" and len(doc["turns"]) == 3
    imported = await store.import_story(data, GUILD_B_CH1, CAROL)
    assert imported.id != story.id
    assert imported.channel_key == GUILD_B_CH1.key and imported.created_by_id == CAROL.id
    assert _told(imported) == _told(story)
    original = await store.turns.all(story.id)
    copied = await store.turns.all(imported.id)
    assert [(t.author_id, t.author_name, t.kind, t.text) for t in copied] == [
        (t.author_id, t.author_name, t.kind, t.text) for t in original
    ]
    assert [t.position for t in copied] == [1, 2, 3]
    assert [e.keys for e in await store.lore.all(imported.id)] == [("cave",)]
    again = json.loads(await store.export_story(imported, "json"))
    assert again["turns"] == [{**t, "position": i} for i, t in enumerate(doc["turns"], start=1)]
    # The imported story is the channel's open story: a second import is refused.
    with pytest.raises(StateError):
        await store.import_story(data, GUILD_B_CH1, CAROL)


async def test_import_rejects_garbage(store: Store) -> None:
    for bad in ("not json", '{"format": "other", "version": 1, "story": {}}', "[]"):
        with pytest.raises(UsageError):
            await store.import_story(bad, GUILD_B_CH1, CAROL)
    assert await store.stories.get_active(GUILD_B_CH1) is None


async def test_export_command_writes_file(
    store: Store,
    storage_settings: StorageSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    story = await _story(store)
    out = tmp_path / "story.json"
    await export_command(storage_settings, story_id=story.id, fmt="json", out=out)
    assert json.loads(out.read_text(encoding="utf-8"))["story"]["title"] == "The Cave"
    await export_command(storage_settings, channel=GUILD_A_CH1.key, fmt="md")
    assert "# The Cave" in capsys.readouterr().out


async def test_markdown_round_trip_keeps_every_turn_and_its_author(store: Store) -> None:
    story = await _story(store)
    add = store.turns.add
    tricky = [
        (TurnKind.PLAYER, BOB.id, "Bob", "First paragraph.\n\nSecond one, after a blank line."),
        (TurnKind.BOT, "bot", "Narrator", "*Boom*, said the cave.\n\n\nThen silence."),
        (TurnKind.BOT, "bot", "Narrator", "\\o/ cheered the echo."),
        (TurnKind.SYSTEM, "", "", "Bob joined the game."),
        (TurnKind.PLAYER, ALICE.id, "Alice", "**Loud:** I shout."),
    ]
    for kind, author_id, name, text in tricky:
        await add(story.id, author_id=author_id, author_name=name, kind=kind, text=text)
    md = await store.export_story(story, "md")
    narrator = Author(id="storyloom", name="The Teller")
    imported = await store.import_story(md, GUILD_B_CH1, CAROL, fmt="md", narrator=narrator)
    assert _told(imported) == _told(story)
    original = await store.turns.all(story.id)
    expected = [
        (
            t.kind,
            narrator.id if t.kind is TurnKind.BOT else "",
            narrator.name if t.kind is TurnKind.BOT else t.author_name,
            t.text,
        )
        for t in original
    ]
    copied = await store.turns.all(imported.id)
    assert [(t.kind, t.author_id, t.author_name, t.text) for t in copied] == expected
    assert [(e.keys, e.text) for e in await store.lore.all(imported.id)] == [
        (("cave",), "The cave hums.")
    ]
    # The copy's Markdown is the original's, but for who started it and when.
    again = await store.export_story(imported, "md")
    assert again.split("## Premise")[1] == md.split("## Premise")[1]


def test_markdown_from_elsewhere_reads_as_well_as_it_can() -> None:
    text = (
        "\ufeff# Untitled story\r\n\r\n*Started by Ann on 2026-01-01 · mode: round-robin*\r\n\r\n"
        "## Story\r\n\r\n**Ann:** Hello.\r\n\r\nThe wind.\r\n\r\n---\r\n\r\n"
        "Written by Ann and the storyteller.\r\n"
    )
    doc = parse_markdown(text, narrator_id="n", narrator_name="N")
    assert doc["story"] == {
        "title": "",
        "mode": "round-robin",
        "premise": "",
        "memory": "",
        "author_note": "",
    }
    assert doc["turns"] == [
        {"author_id": "", "author_name": "Ann", "kind": "player", "text": "Hello."},
        {"author_id": "n", "author_name": "N", "kind": "bot", "text": "The wind."},
    ]


async def test_markdown_import_rejects_what_is_not_a_story(store: Store) -> None:
    for bad, why in (
        ("Just some notes.", "should begin with the story's title"),
        ("# Title\n\n## Premise\n\nA cave.", "no `## Story` section"),
        ("# " + "T" * 300 + "\n\n## Story\n\nHi.", "story.title"),
    ):
        with pytest.raises(UsageError, match=why):
            await store.import_story(bad, GUILD_B_CH1, CAROL, fmt="md")
    assert await store.stories.get_active(GUILD_B_CH1) is None


async def test_a_refused_text_stores_nothing(store: Store) -> None:
    story = await _story(store)
    data = await store.export_story(story, "json")
    seen: list[str] = []

    async def screen(text: str) -> bool:
        seen.append(text)
        return "walls" not in text

    with pytest.raises(Blocked, match="turn 2 tripped"):
        await store.import_story(data, GUILD_B_CH1, CAROL, screen=screen)
    assert seen[-1] == "The walls hum." and "Two friends find a cave." in seen
    assert await store.stories.get_active(GUILD_B_CH1) is None
