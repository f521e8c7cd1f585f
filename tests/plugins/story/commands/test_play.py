"""A whole free-mode game through the console harness, with the real model and SQLite."""

from __future__ import annotations

from bot.records import StoryStatus
from tests.plugins.story.conftest import GameFactory, final_texts, transcript
from tests.plugins.story.helpers import (
    active_story,
    assert_clean_bot_text,
    by_reply,
    channel,
    kinds,
    texts,
    visible_turns,
)


async def test_free_mode_game(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start title=Spark A shy dragon who is afraid of the dark"),
        game.line("Alice", "Once upon a time there was a little dragon named Spark."),
        game.line("Bob", "/story add Spark did not like the night."),
        game.line("Carol", "(brb, getting tea)"),
        game.line("Bob", "/story continue"),
        game.line("Carol", "/story recap"),
    )
    print(transcript(records))
    assert "Spark" in texts(by_reply(records, 1)) and "free" in texts(by_reply(records, 1))
    assert by_reply(records, 2) == []  # a plain message is a turn, added quietly
    assert "**Bob:** Spark did not like the night." in texts(by_reply(records, 3))
    assert by_reply(records, 4) == []  # table talk is ignored
    story = await active_story(store)
    turns = await visible_turns(store, story.id)
    assert kinds(turns) == ["Alice", "Bob", "bot"]
    assert turns[0].text == "Once upon a time there was a little dragon named Spark."
    bot_turn = turns[-1]
    assert_clean_bot_text(bot_turn.text)
    shown = [m for m in final_texts(by_reply(records, 5)).values() if m.get("buttons")]
    assert len(shown) == 1 and shown[0]["text"] == bot_turn.text
    labels = [b["label"] for b in shown[0]["buttons"]]
    assert labels == ["Continue", "Retry", "Undo"]
    assert shown[0]["buttons"][1]["action_id"] == f"story:retry:{bot_turn.id}"
    recap = texts(by_reply(records, 6))
    # a model summary when it is usable, else the story's own start and latest turns
    assert recap.startswith("📜")
    assert "Recap of Spark:" in recap or (
        "It began:" in recap and "Spark did not like the night." in recap
    )

    # the storyteller writes on its own after every 2 player turns once a moderator says so
    records = await game.play(
        game.line("Bob", "/story settings auto_continue_every 2"),
        game.line("Alice", "/story settings auto_continue_every 2", admin=True),
        game.line("Alice", "/story add Then a firefly came by."),
        game.line("Bob", "The firefly said hello."),
        game.line("Carol", "/story show"),
    )
    print(transcript(records))
    assert "needs the" in texts(by_reply(records, 1)).lower()
    assert "auto_continue_every" in texts(by_reply(records, 2))
    turns = await visible_turns(store, story.id)
    assert kinds(turns) == ["Alice", "Bob", "bot", "Alice", "Bob", "bot"]
    assert_clean_bot_text(turns[-1].text)
    assert any(r.get("buttons") for r in by_reply(records, 4))
    shown_text = texts(by_reply(records, 5))
    assert "**Alice:** Then a firefly came by." in shown_text and "free, 6 turns" in shown_text

    records = await game.play(
        game.line("Bob", "/story end"),
        game.line("Alice", "/story end"),
        game.line("Alice", "Is anyone there?"),
        game.line("Alice", "/story list"),
    )
    print(transcript(records))
    assert "Only Alice" in texts(by_reply(records, 1))
    assert "The End" in texts(by_reply(records, 2))
    assert by_reply(records, 3) == []  # no running story: plain messages are not turns
    assert "Spark" in texts(by_reply(records, 4)) and "ended" in texts(by_reply(records, 4))
    ended = await store.stories.get(story.id, channel())
    assert ended.status is StoryStatus.ENDED
    assert (await store.turns.count(story.id)) == 6


async def test_bad_input_gets_usage_and_changes_nothing(make_game: GameFactory) -> None:
    game = await make_game()
    records = await game.play(
        game.line("Alice", "/story continue"),
        game.line("Alice", "/story start"),
        game.line("Alice", "/story start mode=sideways A cat"),
        game.line("Alice", "/story start A cat who can fly"),
        game.line("Alice", "/story start Another cat"),
        game.line("Alice", "/story add"),
        game.line("Alice", "/story vote 2"),
        game.line("Alice", "/story swipe 2"),
        game.line("Alice", "/story retry"),
        game.line("Alice", "/story add " + "x" * 1600),
    )
    print(transcript(records))
    assert "/story start" in texts(by_reply(records, 1))
    assert "Usage" in texts(by_reply(records, 2))
    assert "mode" in texts(by_reply(records, 3))
    assert "already running" in texts(by_reply(records, 5))
    assert "Usage: `/story add <text>`" in texts(by_reply(records, 6))
    assert "no vote open" in texts(by_reply(records, 7))
    assert "isn't mine" in texts(by_reply(records, 8))
    assert "isn't mine" in texts(by_reply(records, 9))
    assert "limit is 1,500" in texts(by_reply(records, 10))
    assert all(
        r["kind"] == "notice" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10) for r in by_reply(records, n)
    )
    story = await active_story(game.app.store)
    assert await game.app.store.turns.count(story.id) == 0
    assert story.premise == "A cat who can fly"
    assert story.mode == "free"


async def test_guild_overrides_the_sampling_preset(make_game: GameFactory) -> None:
    from plugins.story.game import GameState

    game = await make_game()
    records = await game.play(
        game.line("Alice", "/story settings", admin=True),
        game.line("Alice", "/story settings sampling_preset creative", admin=True),
        game.line("Alice", "/story settings temperature 0.3", admin=True),
        game.line("Alice", "/story settings temperature 7", admin=True),
        game.line("Alice", "/story settings sampling_preset wild", admin=True),
    )
    print(transcript(records))
    assert "`sampling_preset` = focused" in texts(by_reply(records, 1))
    assert "between 0 and 2" in texts(by_reply(records, 4))
    assert "Presets: balanced, creative, focused" in texts(by_reply(records, 5))
    params = await game.plugin.writing.sampling(channel(), GameState())
    assert params.temperature == 0.3 and params.top_k == 80 and params.max_new_tokens == 24
    await game.play(game.line("Alice", "/story settings temperature default", admin=True))
    assert (await game.plugin.writing.sampling(channel(), GameState())).temperature == 1.0
