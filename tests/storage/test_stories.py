from __future__ import annotations

import pytest

from bot.errors import NotFound, StaleState, StateError
from bot.records import StoryStatus
from storage.store import Store
from tests.storage.conftest import ALICE, BOB, GUILD_A_CH1, GUILD_A_CH2, GUILD_B_CH1


async def test_create_and_read_back(store: Store) -> None:
    story = await store.stories.create(
        GUILD_A_CH1, ALICE, title="The Cave", premise="A cave.", memory="Dark.", mode="round_robin"
    )
    assert story.status == StoryStatus.ACTIVE
    assert story.created_by_name == "Alice"
    assert (await store.stories.get_active(GUILD_A_CH1)) == story
    assert (await store.stories.get(story.id, GUILD_A_CH1)) == story
    assert (await store.stories.get_in_guild(story.id, "1")) == story
    assert story.created_at.tzinfo is not None


async def test_one_open_story_per_channel_enforced(store: Store) -> None:
    first = await store.stories.create(GUILD_A_CH1, ALICE)
    with pytest.raises(StateError):
        await store.stories.create(GUILD_A_CH1, BOB)
    # Other channels are independent.
    other = await store.stories.create(GUILD_A_CH2, BOB)
    assert other.id != first.id
    await store.stories.end(first.id, by_user_id=ALICE.id)
    assert await store.stories.get_active(GUILD_A_CH1) is None
    second = await store.stories.create(GUILD_A_CH1, BOB)
    assert [s.id for s in await store.stories.list_for_channel(GUILD_A_CH1)] == [
        second.id,
        first.id,
    ]
    # Reopening the ended story would make two open stories.
    with pytest.raises(StateError):
        await store.stories.set_status(first.id, StoryStatus.ACTIVE, by_user_id=ALICE.id)


async def test_story_ids_do_not_cross_channels_or_guilds(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    with pytest.raises(NotFound):
        await store.stories.get(story.id, GUILD_A_CH2)
    with pytest.raises(NotFound):
        await store.stories.get(story.id, GUILD_B_CH1)
    with pytest.raises(NotFound):
        await store.stories.get_in_guild(story.id, "2")
    assert await store.stories.get_active(GUILD_B_CH1) is None
    with pytest.raises(NotFound):
        await store.stories.get_any(story.id + 1000)


async def test_edits_are_recorded_with_who_changed_what(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE, memory="old memory")
    updated = await store.stories.update(
        story.id, by_user_id=BOB.id, memory="new memory", author_note="be brief", title=None
    )
    assert (updated.memory, updated.author_note, updated.title) == ("new memory", "be brief", "")
    # Unchanged values leave no history.
    await store.stories.update(story.id, by_user_id=BOB.id, memory="new memory")
    ended = await store.stories.end(story.id, by_user_id=ALICE.id)
    assert ended.ended_at is not None
    history = await store.stories.history(story.id)
    assert [(e.field, e.old_value, e.new_value, e.user_id) for e in history] == [
        ("memory", "old memory", "new memory", BOB.id),
        ("author_note", "", "be brief", BOB.id),
        ("status", "active", "ended", ALICE.id),
    ]


async def test_mode_state_uses_optimistic_versions(store: Store) -> None:
    story = await store.stories.create(GUILD_A_CH1, ALICE, mode="round_robin")
    assert story.state_version == 0
    one = await store.stories.update_state(
        story.id, {"order": ["100", "200"], "current": 0}, expected_version=0
    )
    assert one.state_version == 1
    assert one.state == {"order": ["100", "200"], "current": 0}
    with pytest.raises(StaleState):
        await store.stories.update_state(story.id, {"current": 1}, expected_version=0)
    two = await store.stories.update_state(
        story.id, {**one.state, "current": 1}, expected_version=1
    )
    assert (two.state["current"], two.state_version) == (1, 2)
    assert (await store.stories.get(story.id, GUILD_A_CH1)).state == two.state
    with pytest.raises(NotFound):
        await store.stories.update_state(story.id + 99, {}, expected_version=0)
