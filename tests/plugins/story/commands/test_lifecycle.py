"""Export as Markdown and JSON attachments, and import the JSON back as a new story."""

from __future__ import annotations

import json

from tests.plugins.story.conftest import GameFactory, transcript
from tests.plugins.story.helpers import active_story, by_reply, texts, visible_turns


async def test_export_and_import_round_trip(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start title=Robo A robot who wants to bake bread"),
        game.line("Alice", "/story add Robo opened the oven."),
        game.line("Bob", "/story add Robo found some flour."),
        game.line("Alice", "/story export"),
        game.line("Alice", "/story export json"),
        game.line("Alice", "/story import {}"),
    )
    print(transcript(records))
    md = by_reply(records, 4)[0]["attachments"][0]
    assert md["filename"].endswith(".md") and md["filename"].startswith("robo-")
    assert "Robo opened the oven." in md["text"] and "Bob" in md["text"]
    exported = by_reply(records, 5)[0]["attachments"][0]
    assert exported["filename"].endswith(".json")
    document = json.loads(exported["text"])
    assert [t["text"] for t in document["turns"]] == [
        "Robo opened the oven.",
        "Robo found some flour.",
    ]
    assert "already running" in texts(by_reply(records, 6))
    original = await active_story(store)

    records = await game.play(
        game.line("Alice", "/story end"),
        game.line("Carol", "/story import " + json.dumps(document)),
        game.line("Carol", "/story import not json"),
        game.line("Carol", "/story show"),
    )
    print(transcript(records))
    assert "Imported *Robo* (2 turns" in texts(by_reply(records, 2))
    assert "already running" in texts(by_reply(records, 3))
    imported = await active_story(store)
    assert imported.id != original.id and imported.title == "Robo"
    assert [(t.author_name, t.text) for t in await visible_turns(store, imported.id)] == [
        ("Alice", "Robo opened the oven."),
        ("Bob", "Robo found some flour."),
    ]
    assert "Robo found some flour." in texts(by_reply(records, 4))
    records = await game.play(game.line("Carol", f"/story export story={original.id} format=md"))
    assert "Robo opened the oven." in records[0]["attachments"][0]["text"]
