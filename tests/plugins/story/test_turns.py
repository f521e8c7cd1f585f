"""Retry keeps alternatives, swipes switch them, undo and edit respect whose turn it is."""

from __future__ import annotations

from bot.records import TurnKind
from tests.plugins.story.conftest import GameFactory, final_texts, transcript
from tests.plugins.story.helpers import active_story, by_reply, kinds, texts, visible_turns


async def test_edit_and_undo_permissions(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start A robot who wants to bake bread"),
        game.line("Alice", "/story add Robo opened the oven."),
        game.line("Bob", "/story add Robo burned the toast."),
        game.line("Alice", "/story edit Robo baked perfect bread."),
        game.line("Bob", "/story edit Robo burned the toast a little."),
        game.line("Alice", "/story undo"),
        game.line("Dana", "/story undo", mod=True),
        game.line("Alice", "/story undo"),
    )
    print(transcript(records))
    assert "only edit your own turn" in texts(by_reply(records, 4))
    assert "Updated your turn" in texts(by_reply(records, 5))
    assert "That's Bob's turn" in texts(by_reply(records, 6))
    assert "Undid Bob's turn" in texts(by_reply(records, 7))
    assert "Undid your turn" in texts(by_reply(records, 8))
    story = await active_story(store)
    assert await visible_turns(store, story.id) == []
    everything = await store.turns.all(story.id, include_removed=True)
    assert [t.text for t in everything] == [
        "Robo opened the oven.",
        "Robo burned the toast a little.",
    ]
    assert [t.removed_by for t in everything] == ["u-alice", "u-dana"]


async def test_retry_swipe_and_undo_of_the_storyteller(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start A robot who wants to bake bread"),
        game.line("Alice", "/story add Robo opened the oven and smiled."),
        game.line("Alice", "/story continue"),
        game.line("Alice", "/story retry"),
    )
    print(transcript(records))
    story = await active_story(store)
    turns = await visible_turns(store, story.id)
    assert kinds(turns) == ["Alice", "bot"]
    bot = turns[-1]
    alts = await store.alternatives.all(story.id, bot.id)
    assert len(alts) == 2 and alts[1].selected and bot.text == alts[1].text
    retried = [m for m in final_texts(by_reply(records, 4)).values() if m.get("buttons")]
    assert retried and retried[-1]["text"].endswith("version 2 of 2")
    labels = [b["label"] for b in retried[-1]["buttons"]]
    assert labels == ["Continue", "◀", "▶", "Retry", "Undo"]

    records = await game.play(
        game.line("Bob", action=f"story:swipe:{bot.id}:1"),
        game.line("Bob", "/story swipe 3"),
        game.line("Carol", "/story undo"),
        game.line("Alice", action="story:retry:999999"),
    )
    print(transcript(records))
    assert alts[0].text in texts(by_reply(records, 1))
    assert (await store.turns.last(story.id)).text == alts[0].text
    assert "from 1 to 2" in texts(by_reply(records, 2))
    assert "Only the story's players" in texts(by_reply(records, 3))
    assert "isn't the latest" in texts(by_reply(records, 4))
    records = await game.play(
        game.line("Alice", action=f"story:swipe:{bot.id}:2"),
        game.line("Alice", action=f"story:undo:{bot.id}"),
    )
    assert (await store.turns.count(story.id)) == 1
    assert "Undid my last part" in texts(by_reply(records, 2))
    last = await store.turns.last(story.id)
    assert last is not None and last.kind is TurnKind.PLAYER
