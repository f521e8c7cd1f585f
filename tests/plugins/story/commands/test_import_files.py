"""``/story import`` with an attached file: what ``/story export`` wrote (JSON and Markdown) comes
back as the same story through the real app and SQLite; hostile files get a clear answer and
leave nothing behind; ``thread=yes`` outside Discord starts the story in place and says why."""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.records import Turn, TurnKind
from plugins.story.commands.lifecycle import MAX_IMPORT_BYTES
from plugins.story.session import BOT_ID
from tests.plugins.story.conftest import Game, GameFactory, transcript
from tests.plugins.story.helpers import active_story, by_reply, channel, texts, visible_turns

TWO_PARAGRAPHS = "Robo opened the oven.\n\nA cloud of flour rose like a ghost."


async def _played(game: Game) -> tuple[dict[str, Any], dict[str, Any], list[Turn]]:
    """A story with every kind of part, ended; its JSON and Markdown exports and its turns."""
    records = await game.play(
        game.line("Alice", "/story start title=Robo A robot who wants to bake bread"),
        game.line("Alice", "/story add " + TWO_PARAGRAPHS),
        game.line("Bob", "/story add *Robo* sneezed."),
        game.line("Alice", "/story continue"),
        game.line("Alice", "/story memory Robo lives in a bakery in Lyon."),
        game.line("Alice", "/story lore oven,stove The oven is older than the town."),
        game.line("Alice", "/story export json"),
        game.line("Alice", "/story export md"),
    )
    print(transcript(records))
    story = await active_story(game.app.store)
    turns = await visible_turns(game.app.store, story.id)
    assert [t.kind for t in turns] == [TurnKind.PLAYER, TurnKind.PLAYER, TurnKind.BOT]
    assert turns[0].text == TWO_PARAGRAPHS  # a blank line inside a turn
    [as_json] = by_reply(records, 7)[0]["attachments"]
    [as_md] = by_reply(records, 8)[0]["attachments"]
    await game.play(game.line("Alice", "/story end"))
    return as_json, as_md, turns


def _parts(turns: list[Turn]) -> list[tuple[TurnKind, str, str, str]]:
    return [(t.kind, t.author_id, t.author_name, t.text) for t in turns]


async def test_exported_files_import_back_as_the_same_story(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    as_json, as_md, turns = await _played(game)
    assert as_json["filename"].endswith(".json") and as_md["filename"].endswith(".md")

    records = await game.play(game.line("Carol", "/story import", attachments=[as_md]))
    print(transcript(records))
    assert "Imported *Robo* (3 turns, free)" in texts(records)
    from_md = await active_story(store)
    assert (from_md.title, from_md.premise, from_md.memory, from_md.mode) == (
        "Robo",
        "A robot who wants to bake bread",
        "Robo lives in a bakery in Lyon.",
        "free",
    )
    assert from_md.created_by_name == "Carol"
    # Markdown carries names, not ids: players' ids are empty, the storyteller's turns are ours.
    assert _parts(await visible_turns(store, from_md.id)) == [
        (t.kind, BOT_ID if t.kind is TurnKind.BOT else "", t.author_name, t.text) for t in turns
    ]
    [entry] = await store.lore.all(from_md.id)
    assert (entry.keys, entry.text) == (("oven", "stove"), "The oven is older than the town.")
    records = await game.play(game.line("Carol", "/story export md"))
    again = records[0]["attachments"][0]["text"]
    body = as_md["text"].split("## Premise", 1)[1]  # the byline names who imported it
    assert again.split("## Premise", 1)[1] == body

    await game.play(game.line("Carol", "/story end"))
    records = await game.play(game.line("Dan", "/story import", attachments=[as_json]))
    assert "Imported *Robo* (3 turns, free)" in texts(records)
    from_json = await active_story(store)
    assert _parts(await visible_turns(store, from_json.id)) == _parts(turns)
    records = await game.play(game.line("Dan", "/story show"))
    assert "Robo* sneezed." in texts(records) and "flour rose" in texts(records)


def _text_file(name: str, text: str) -> dict[str, str]:
    return {"filename": name, "text": text}


def _binary_file(name: str, data: bytes) -> dict[str, str]:
    return {"filename": name, "base64": base64.b64encode(data).decode("ascii")}


async def test_hostile_files_get_a_clear_answer_and_change_nothing(
    make_game: GameFactory,
) -> None:
    game = await make_game()
    store = game.app.store
    as_json, as_md, _ = await _played(game)
    document = json.loads(as_json["text"])
    huge = json.dumps({**document, "padding": "x" * (MAX_IMPORT_BYTES + 300_000)})
    cases: list[tuple[dict[str, str], str]] = [
        (_binary_file("story.json", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50), "not a text file"),
        (_binary_file("story.md", "Robo".encode("utf-16")), "not a text file"),
        (_text_file("story.json", ""), "empty"),
        (_text_file("story.json", huge), "is too large (1.3 MB); the limit is 1.0 MB"),
        (_text_file("story.png", as_json["text"]), "attach the `.json` or `.md` file"),
        (_text_file("story", as_json["text"]), "attach the `.json` or `.md` file"),
        (_text_file("story.json", as_md["text"]), "not valid JSON"),
        (_text_file("story.json", as_json["text"][:-40]), "not valid JSON"),
        (_text_file("story.json", '{"format": "other", "version": 1}'), "not a storyloom story"),
        (_text_file("story.json", "[]"), "not a storyloom story"),
        (_text_file("story.md", as_json["text"]), "should begin with the story's title"),
        (_text_file("story.md", as_md["text"].replace("## Story", "## Tale")), "no `## Story`"),
        (_text_file("story.md", "# A title\n\nNothing else."), "no `## Story`"),
    ]
    stories_before = await store.stories.list_for_channel(channel(), limit=50)
    lines = [game.line("Carol", "/story import", attachments=[file]) for file, _ in cases]
    lines.append(game.line("Carol", "/story import {}", attachments=[as_json]))
    lines.append(game.line("Carol", "/story import", attachments=[as_json, as_md]))
    lines.append(game.line("Carol", "/story import"))
    records = await game.play(*lines)
    print(transcript(records))
    for number, (file, expected) in enumerate(cases, start=1):
        answer = by_reply(records, number)
        assert [r["kind"] for r in answer] == ["notice"], (file["filename"], answer)
        assert expected in answer[0]["text"], (expected, answer[0]["text"])
        assert "Traceback" not in answer[0]["text"]
    extra = len(cases)
    assert "not both" in texts(by_reply(records, extra + 1))
    assert "takes 1 file(s); 2 were attached" in texts(by_reply(records, extra + 2))
    assert "Attach the `.json` or `.md` file" in texts(by_reply(records, extra + 3))
    assert await store.stories.get_active(channel()) is None
    assert await store.stories.list_for_channel(channel(), limit=50) == stories_before


async def test_a_file_the_filters_refuse_is_not_imported(make_game: GameFactory) -> None:
    game = await make_game()
    as_json, as_md, _ = await _played(game)
    await game.play(game.line("Alice", "/mod words add bogart*", admin=True))
    document = json.loads(as_json["text"])
    document["turns"][1]["text"] = "Then came the bogarts."
    tainted = [
        _text_file("story.json", json.dumps(document)),
        _text_file("story.md", as_md["text"].replace("sneezed", "bogartised")),
    ]
    records = await game.play(
        *(game.line("Carol", "/story import", attachments=[file]) for file in tainted)
    )
    print(transcript(records))
    for number in (1, 2):
        [answer] = by_reply(records, number)
        assert answer["kind"] == "notice"
        assert "turn 2 tripped this server's content filter" in answer["text"]
        assert "bogart" not in answer["text"]
    assert await game.app.store.stories.get_active(channel()) is None


async def test_thread_option_outside_discord_starts_in_place(make_game: GameFactory) -> None:
    game = await make_game()
    records = await game.play(
        game.line("Alice", "/story start thread=yes title=Robo A robot who wants to bake bread")
    )
    [answer] = records
    assert answer["kind"] == "message"
    assert answer["text"].startswith("🧵 This chat has no threads, so it happens right here.")
    assert "**Robo** begins" in answer["text"]
    story = await active_story(game.app.store)
    assert story.channel_id == game.channel and story.title == "Robo"
