from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.errors import NotFound, StaleState, StateError
from bot.records import RemovalReason, StoryStatus, TurnKind
from storage.settings import StorageSettings
from storage.store import Store, open_store
from tests.storage.conftest import ALICE, BOB, GUILD_A_CH1, GUILD_A_CH2


async def _player(store: Store, story_id: int, who: str, name: str, text: str):  # type: ignore[no-untyped-def]
    return await store.turns.add(
        story_id, author_id=who, author_name=name, kind=TurnKind.PLAYER, text=text
    )


async def test_turns_get_increasing_positions_and_read_back(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    a = await _player(store, story.id, ALICE.id, "Alice", "I open the door.")
    b = await store.turns.add(
        story.id,
        author_id="bot",
        author_name="Narrator",
        kind=TurnKind.BOT,
        text="It creaks.",
        token_count=4,
    )
    assert (a.position, b.position) == (1, 2)
    assert a.id != b.id
    assert await store.turns.get(story.id, b.id) == b
    assert await store.turns.last(story.id) == b
    assert [t.text for t in await store.turns.window(story.id, limit=10)] == [
        "I open the door.",
        "It creaks.",
    ]
    assert await store.turns.count(story.id) == 2
    with pytest.raises(NotFound):
        await store.turns.get(story.id + 1, b.id)


async def test_add_rejects_unknown_and_ended_stories(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    with pytest.raises(NotFound):
        await _player(store, story.id + 50, ALICE.id, "Alice", "hello")
    await store.stories.set_status(story.id, StoryStatus.PAUSED, by_user_id=ALICE.id)
    with pytest.raises(StateError):
        await _player(store, story.id, ALICE.id, "Alice", "hello")
    await store.stories.end(story.id, by_user_id=ALICE.id)
    with pytest.raises(StateError):
        await _player(store, story.id, ALICE.id, "Alice", "hello")
    assert await store.turns.count(story.id, include_removed=True) == 0


async def test_undo_marks_removed_and_keeps_the_row(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    await _player(store, story.id, ALICE.id, "Alice", "one")
    two = await _player(store, story.id, BOB.id, "Bob", "two")
    with pytest.raises(StateError):
        await store.turns.undo(story.id, by_user_id=ALICE.id, only_author_id=ALICE.id)
    undone = await store.turns.undo(story.id, by_user_id=BOB.id, only_author_id=BOB.id)
    assert undone.id == two.id
    assert undone.removed and undone.removed_by == BOB.id
    assert undone.removed_reason == RemovalReason.UNDO
    assert [t.text for t in await store.turns.window(story.id)] == ["one"]
    assert await store.turns.count(story.id) == 1
    assert await store.turns.count(story.id, include_removed=True) == 2
    # New turns never reuse a removed position.
    three = await _player(store, story.id, BOB.id, "Bob", "three")
    assert three.position == 3
    await store.turns.undo(story.id, by_user_id="mod")
    await store.turns.undo(story.id, by_user_id="mod")
    with pytest.raises(StateError):
        await store.turns.undo(story.id, by_user_id="mod")


async def test_edit_own_last_turn_and_moderator_removal(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    first = await _player(store, story.id, ALICE.id, "Alice", "I walk.")
    edited = await store.turns.edit_last(story.id, author_id=ALICE.id, text="I run.")
    assert (edited.id, edited.text, edited.edited_at is not None) == (first.id, "I run.", True)
    await _player(store, story.id, BOB.id, "Bob", "I wait.")
    with pytest.raises(StateError):
        await store.turns.edit_last(story.id, author_id=ALICE.id, text="I fly.")
    removed = await store.turns.remove(story.id, first.id, by_user_id="mod")
    assert removed.removed_reason == RemovalReason.MODERATOR
    with pytest.raises(NotFound):
        await store.turns.remove(story.id, first.id, by_user_id="mod")
    with pytest.raises(NotFound):
        await store.turns.remove(story.id + 1, first.id, by_user_id="mod")


async def test_concurrent_writers_all_land_in_call_order(store: Store) -> None:
    one = await store.stories.create(GUILD_A_CH1, ALICE)
    two = await store.stories.create(GUILD_A_CH2, BOB)

    async def writer(story_id: int, who: str, n: int) -> list[int]:
        return [(await _player(store, story_id, who, who, f"{who} {i}")).position for i in range(n)]

    results = await asyncio.gather(
        *(writer(one.id if w % 2 else two.id, f"w{w}", 15) for w in range(10))
    )
    batches_before = store.commit_batches
    # Two players at the same instant: both land, in the order they called.
    same_instant = await asyncio.gather(
        _player(store, one.id, ALICE.id, "Alice", "first"),
        _player(store, one.id, BOB.id, "Bob", "second"),
    )
    assert same_instant[1].position == same_instant[0].position + 1
    assert store.commit_batches == batches_before + 1  # committed together

    for story in (one, two):
        turns = await store.turns.all(story.id)
        assert [t.position for t in turns] == list(range(1, len(turns) + 1))
    assert await store.turns.count(one.id) == 5 * 15 + 2
    assert await store.turns.count(two.id) == 5 * 15
    # Each writer's own turns are in the order it wrote them.
    for positions in results:
        assert positions == sorted(positions)
    texts = Counter(t.author_id for t in await store.turns.all(one.id))
    assert texts["w1"] == 15
    # Group commit really batched: far fewer transactions than turns.
    assert store.commit_batches < 150


async def test_restart_loses_nothing(storage_settings: StorageSettings) -> None:
    store = await open_store(storage_settings)
    story = await store.stories.create(GUILD_A_CH1, ALICE, memory="remember me")
    added = await asyncio.gather(
        *(_player(store, story.id, ALICE.id, "Alice", f"turn {i}") for i in range(40))
    )
    await store.close()

    reopened = await open_store(storage_settings)
    try:
        again = await reopened.stories.get_active(GUILD_A_CH1)
        assert again is not None and again.memory == "remember me"
        turns = await reopened.turns.all(story.id)
        assert [t.id for t in turns] == [t.id for t in sorted(added, key=lambda t: t.position)]
        assert [t.text for t in turns] == [f"turn {i}" for i in range(40)]
        nxt = await _player(reopened, story.id, BOB.id, "Bob", "after restart")
        assert nxt.position == 41
    finally:
        await reopened.close()


async def test_close_commits_queued_turns(storage_settings: StorageSettings) -> None:
    store = await open_store(storage_settings)
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    pending = [
        asyncio.ensure_future(_player(store, story.id, ALICE.id, "Alice", f"t{i}"))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    await store.close()
    assert all(p.done() and p.exception() is None for p in pending)
    reopened = await open_store(storage_settings)
    try:
        assert await reopened.turns.count(story.id) == 20
    finally:
        await reopened.close()


async def test_a_refused_turn_does_not_fail_the_rest_of_its_batch(store: Store) -> None:
    open_story = await store.stories.create(GUILD_A_CH1, ALICE)
    ended = await store.stories.create(GUILD_A_CH2, BOB)
    await store.stories.end(ended.id, by_user_id=BOB.id)
    batches = store.commit_batches
    results = await asyncio.gather(
        _player(store, open_story.id, ALICE.id, "Alice", "a"),
        _player(store, ended.id, BOB.id, "Bob", "refused"),
        _player(store, open_story.id + 999, BOB.id, "Bob", "unknown"),
        _player(store, open_story.id, BOB.id, "Bob", "b"),
        store.messages.append(GUILD_A_CH1, author_id=BOB.id, author_name="Bob", text="hello"),
        return_exceptions=True,
    )
    assert isinstance(results[1], StateError)
    assert isinstance(results[2], NotFound)
    assert [t.text for t in await store.turns.all(open_story.id)] == ["a", "b"]
    assert [m.text for m in await store.messages.recent(GUILD_A_CH1)] == ["hello"]
    assert store.commit_batches == batches + 1


async def test_a_turn_and_its_state_change_commit_together_or_not_at_all(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE, state={"since_bot": 0})
    first = await store.turns.add(
        story.id,
        author_id=ALICE.id,
        author_name="Alice",
        kind=TurnKind.PLAYER,
        text="I open the door.",
        state={"since_bot": 1, "players": ["a"]},
        expected_version=0,
    )
    after = await store.stories.get(story.id, GUILD_A_CH1)
    assert (after.state, after.state_version) == ({"since_bot": 1, "players": ["a"]}, 1)
    with pytest.raises(StaleState):  # built on version 0, which moved on: nothing is written
        await store.turns.add(
            story.id,
            author_id=BOB.id,
            author_name="Bob",
            kind=TurnKind.PLAYER,
            text="Stale.",
            state={"since_bot": 9},
            expected_version=0,
        )
    assert [t.text for t in await store.turns.all(story.id)] == [first.text]
    assert (await store.stories.get(story.id, GUILD_A_CH1)).state_version == 1
    # in one batch: the second writer built on the version the first one consumed
    ok, stale = await asyncio.gather(
        store.turns.add(
            story.id,
            author_id=BOB.id,
            author_name="Bob",
            kind=TurnKind.PLAYER,
            text="Bob knocks.",
            state={"since_bot": 2},
            expected_version=1,
        ),
        store.turns.add(
            story.id,
            author_id=ALICE.id,
            author_name="Alice",
            kind=TurnKind.PLAYER,
            text="Alice waits.",
            state={"since_bot": 2},
            expected_version=1,
        ),
        return_exceptions=True,
    )
    assert not isinstance(ok, BaseException) and ok.position == 2
    assert isinstance(stale, StaleState)
    final = await store.stories.get(story.id, GUILD_A_CH1)
    assert (final.state, final.state_version) == ({"since_bot": 2}, 2)
    assert [t.text for t in await store.turns.all(story.id)] == ["I open the door.", "Bob knocks."]
