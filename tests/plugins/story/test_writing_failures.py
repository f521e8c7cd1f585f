"""A failed or blocked generation changes no story state; the player's turn is already safe."""

from __future__ import annotations

from bot.router import WITHHELD
from tests.plugins.story.conftest import GameFactory, transcript
from tests.plugins.story.helpers import active_story, by_reply, kinds, texts, visible_turns


async def test_timed_out_generation_keeps_the_players_turn_only(make_game: GameFactory) -> None:
    game = await make_game(generation_deadline_s=0.0001, auto_continue_every=1)
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start A robot who wants to bake bread"),
        game.line("Alice", "/story add Robo opened the oven."),
        game.line("Alice", "/story continue"),
    )
    print(transcript(records))
    assert "took too long" in texts(by_reply(records, 2))
    assert "took too long" in texts(by_reply(records, 3))
    story = await active_story(store)
    assert kinds(await visible_turns(store, story.id)) == ["Alice"]
    assert story.state["since_bot"] == 1


async def test_blocked_generation_adds_nothing(make_game: GameFactory) -> None:
    game = await make_game()
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start mode=vote A robot who wants to bake bread"),
        game.line("Alice", "/story add Robo opened the oven."),
    )
    story = await active_story(store)
    before = story.state_version
    # this server's rules now block every word the model could write
    await store.settings.set(
        "moderation", "rules", {"regex_rules": ["[A-Za-z]{2}"]}, guild_id="console"
    )
    records = await game.play(game.line("Alice", "/story continue"))
    print(transcript(records))
    # Nothing generated reaches the channel: only notices, or texts the filters withheld (under
    # load the plugin may answer "took too long" publicly, and that text is withheld too).
    assert records and all(r["kind"] == "notice" or r["text"] == WITHHELD for r in records)
    story = await active_story(store)
    assert kinds(await visible_turns(store, story.id)) == ["Alice"]
    assert story.state["vote"] is None and story.state_version == before
