"""Session state: the in-memory story cache and the lock-free paths are correct with two processes
on one database; the one save-with-retry plans again on a fresh read; turns and ``/story show``
are served while the storyteller writes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bot.errors import StaleState
from bot.records import Story, TurnKind
from plugins.story.game import GameState
from plugins.story.session import WRITE_ATTEMPTS, NewTurn, Plan, Write
from tests.plugins.story.conftest import Game, GameFactory
from tests.plugins.story.helpers import active_story, channel, visible_turns

CACHED = {"active_cache_s": 300.0}


async def test_two_processes_on_one_database_never_lose_or_misplace_a_turn(
    make_game: GameFactory,
) -> None:
    one = await make_game(**CACHED)
    two = await make_game(**CACHED)  # same data directory: another "process"
    await one.say("alice", "/story start A lighthouse keeper finds a message in a bottle")
    await one.say("alice", "The bottle was cold and green.")  # cached in one from here on
    await two.say("bob", "/story add Bob pulled out the cork.")  # one's cache is stale now
    await one.say("alice", "Inside was a map of the bay.")  # stale version: retried, stored
    await two.say("bob", "The map showed a small island.")
    story = await active_story(one.app.store)
    turns = await visible_turns(one.app.store, story.id)
    assert [t.text for t in turns] == [
        "The bottle was cold and green.",
        "Bob pulled out the cork.",
        "Inside was a map of the bay.",
        "The map showed a small island.",
    ]
    assert [t.position for t in turns] == [1, 2, 3, 4]
    # the state written with each turn built on the one before: both players joined, four turns
    assert story.state_version == 4
    assert sorted(p["name"] for p in story.state["players"]) == ["alice", "bob"]
    assert story.state["since_bot"] == 4

    # the story ends in one process; the other's cache still says it runs
    ended = await two.say("alice", "/story end")
    assert any("The End" in r["text"] for r in ended), ended
    plain = await one.say("alice", "This line is only table talk now.")
    assert plain == []
    typed = await one.say("alice", "/story add One more line.")
    assert any("There's no story in this channel" in r["text"] for r in typed), typed
    assert [t.text for t in await visible_turns(one.app.store, story.id)][-1] == (
        "The map showed a small island."
    )
    await one.say("alice", "/story start A new tale about a brave snail")
    new = await active_story(two.app.store)
    assert new.id != story.id
    await two.say("bob", "The snail packed a tiny bag.")
    assert [t.text for t in await visible_turns(two.app.store, new.id)] == [
        "The snail packed a tiny bag."
    ]


async def test_a_stale_state_never_half_stores_a_turn(make_game: GameFactory) -> None:
    game = await make_game(**CACHED)
    await game.say("alice", "/story start A kite that wants to fly to the moon")
    await game.say("alice", "The kite tugged at its string.")
    story = await active_story(game.app.store)
    before = await visible_turns(game.app.store, story.id)
    # someone else bumps the state version three times in a row: every retry is stale
    real_add = game.app.store.turns.add
    bumps = 0

    async def racing_add(*args: Any, **kwargs: Any) -> Any:
        nonlocal bumps
        current = await game.app.store.stories.get_any(story.id)
        await game.app.store.stories.update_state(
            story.id, current.state, expected_version=current.state_version
        )
        bumps += 1
        return await real_add(*args, **kwargs)

    game.app.store.turns.add = racing_add  # type: ignore[method-assign]
    try:
        out = await game.say("alice", "/story add The wind was strong today.")
    finally:
        del game.app.store.turns.add
    assert bumps == 3
    assert any("changed at the same moment" in r["text"] for r in out), out
    assert await visible_turns(game.app.store, story.id) == before  # nothing half-stored
    again = await game.say("alice", "/story add The wind was strong today.")
    assert not any(r["kind"] == "notice" for r in again), again
    assert [t.text for t in await visible_turns(game.app.store, story.id)][-1] == (
        "The wind was strong today."
    )


async def test_turns_and_show_are_served_while_the_storyteller_writes(
    make_game: GameFactory,
) -> None:
    game = await make_game(**CACHED)
    await game.say("alice", "/story start A fox who collects buttons")
    await game.say("alice", "The fox found a red button.")
    worker = game.app.generation._backend._worker  # type: ignore[attr-defined]
    original = worker._decoder  # the model's forward or the lean decoder: one call per step
    entered, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(60)
        return original(*args, **kwargs)

    worker._decoder = held
    try:
        writing = asyncio.create_task(game.say("bob", "/story continue"))
        for _ in range(600):
            if entered.is_set():
                break
            await asyncio.sleep(0.02)
        assert entered.is_set(), "the generation never started"
        shown = await game.say("carol", "/story show")  # would wait behind the lock before
        added = await game.say("carol", "/story add Carol counted the buttons twice.")
        assert not writing.done()
        release.set()
        out = await writing
    finally:
        release.set()
        worker._decoder = original
    assert any("The fox found a red button." in r["text"] for r in shown), shown
    assert any("Carol counted the buttons twice." in r["text"] for r in added), added
    assert not any(r["kind"] == "notice" for r in out), out
    story = await active_story(game.app.store)
    turns = await visible_turns(game.app.store, story.id)
    kinds = [t.kind for t in turns]
    assert kinds[:2] == [TurnKind.PLAYER, TurnKind.PLAYER]
    assert kinds.count(TurnKind.BOT) <= 1
    if TurnKind.BOT in kinds:  # stored after the turn that came in while it was written
        assert kinds[-1] is TurnKind.BOT and story.state["since_bot"] == 0
    else:
        assert story.state["since_bot"] == 2


def _racing_plan(game: Game, seen: list[int], *, races: int) -> Plan:
    """A plan for a player's turn whose first ``races`` attempts lose to another writer, which
    changes the story's state between the read and the write."""
    store = game.app.store

    async def plan(story: Story | None) -> Write:
        assert story is not None
        seen.append(story.state_version)
        if len(seen) <= races:
            await store.stories.update_state(
                story.id, story.state, expected_version=story.state_version
            )
        state = GameState.from_dict(story.state).player_wrote()
        return Write(story, state, NewTurn("ann", "ann", TurnKind.PLAYER, "The map was wet."))

    return plan


async def test_commit_plans_again_on_a_fresh_read_when_another_writer_came_first(
    make_game: GameFactory,
) -> None:
    game = await make_game(**CACHED)
    await game.say("ann", "/story start A lighthouse keeper finds a map")
    before = (await active_story(game.app.store)).state_version
    seen: list[int] = []
    written = await game.plugin.sessions.commit(channel(), _racing_plan(game, seen, races=1))
    assert seen == [before, before + 1], "the second plan saw the other writer's version"
    assert written is not None and written.turn is not None
    story = await active_story(game.app.store)
    assert written.story.state_version == story.state_version == before + 2
    assert [t.text for t in await visible_turns(game.app.store, story.id)] == ["The map was wet."]
    assert story.state["since_bot"] == 1
    # the cache holds what was written: the next read needs no database round trip
    assert await game.plugin.sessions.current(channel()) == written.story


async def test_commit_gives_up_after_its_attempts_and_stores_nothing(
    make_game: GameFactory,
) -> None:
    game = await make_game()
    await game.say("ann", "/story start A lighthouse keeper finds a map")
    seen: list[int] = []
    with pytest.raises(StaleState):
        await game.plugin.sessions.commit(channel(), _racing_plan(game, seen, races=WRITE_ATTEMPTS))
    assert len(seen) == WRITE_ATTEMPTS
    story = await active_story(game.app.store)
    assert await visible_turns(game.app.store, story.id) == []
    assert story.state_version == WRITE_ATTEMPTS, "only the other writer's changes landed"
