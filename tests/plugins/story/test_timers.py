"""Round-robin: join order, the current player named, out-of-turn refusals, timeout skips."""

from __future__ import annotations

from tests.plugins.story.conftest import GameFactory, transcript
from tests.plugins.story.helpers import (
    active_story,
    assert_clean_bot_text,
    by_reply,
    kinds,
    texts,
    visible_turns,
)


async def test_round_robin_game_with_timeout_skip(make_game: GameFactory) -> None:
    game = await make_game(turn_timeout_s=30.0)
    store = game.app.store
    records = await game.play(
        game.line("Alice", "/story start mode=round-robin title=Key A key that opens any door"),
        game.line("Bob", "/story join"),
        game.line("Carol", "/story join"),
        game.line("Bob", "/story add I take the key."),
        game.line("Bob", "Bob grabs the key anyway."),  # plain chat out of turn: ignored
        game.line("Alice", "/story add Alice found a small gold key in the garden."),
        game.line("Bob", "Bob tried the key on the old shed."),
    )
    print(transcript(records))
    assert "round-robin" in texts(by_reply(records, 1))
    assert "Order: Alice → Bob → Carol" in texts(by_reply(records, 3))
    assert "It's **Alice**'s turn" in texts(by_reply(records, 4))
    assert by_reply(records, 4)[0]["kind"] == "notice"
    assert by_reply(records, 5) == []
    assert "**Bob**, it's your turn" in texts(by_reply(records, 6))
    assert "**Carol**, it's your turn" in texts(by_reply(records, 7))
    story = await active_story(store)
    assert kinds(await visible_turns(store, story.id)) == ["Alice", "Bob"]

    # Carol is away: after the timeout, the next person who acts skips her, lazily
    game.clock.advance(31)
    records = await game.play(
        game.line("Alice", "/story add The shed door swung open."),
    )
    print(transcript(records))
    out = texts(records)
    assert "Carol didn't write in time and was skipped" in out
    assert "**Alice:** The shed door swung open." in out
    turns = await visible_turns(store, story.id)
    # three player turns since the storyteller wrote, with three players: the storyteller's turn
    assert kinds(turns) == ["Alice", "Bob", "Alice", "bot"]
    assert_clean_bot_text(turns[-1].text)
    assert "**Bob**, it's your turn" in out

    # tick() skips Bob in the background; the next reply in the channel says so
    game.clock.advance(31)
    assert await game.plugin.tick() == 1
    records = await game.play(
        game.line("Carol", "/story show"),
        game.line("Carol", "/story leave"),
        game.line("Alice", "/story join"),
    )
    print(transcript(records))
    assert "Bob didn't write in time" in texts(by_reply(records, 1))
    assert "It's **Carol**'s turn" in texts(by_reply(records, 1))
    assert "Carol** left" in texts(by_reply(records, 2))
    assert "It's **Alice**'s turn" in texts(by_reply(records, 2))
    assert "already playing" in texts(by_reply(records, 3))
    state = (await active_story(store)).state
    assert [p["name"] for p in state["players"]] == ["Alice", "Bob"]


async def test_background_tick_skips_an_absent_player(make_game: GameFactory) -> None:
    import asyncio

    game = await make_game(turn_timeout_s=30.0, tick_interval_s=0.02)
    await game.play(
        game.line("Alice", "/story start mode=round-robin A key that opens any door"),
        game.line("Bob", "/story join"),
    )
    game.clock.advance(31)  # Alice's turn times out; nobody acts
    for _ in range(200):
        if game.plugin.timers.pending.get(game.channel_key):
            break
        await asyncio.sleep(0.02)
    story = await active_story(game.app.store)
    assert story.state["current"] == 1
    records = await game.play(game.line("Bob", "/story add Bob opened the gate."))
    print(transcript(records))
    assert "Alice didn't write in time" in texts(records)
    assert "**Bob:** Bob opened the gate." in texts(records)
