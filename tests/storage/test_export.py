from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import StateError, UsageError
from bot.records import TurnKind
from storage.export_command import export_command
from storage.settings import StorageSettings
from storage.store import Store
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
    assert (imported.title, imported.premise, imported.memory, imported.author_note) == (
        story.title,
        story.premise,
        story.memory,
        story.author_note,
    )
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
