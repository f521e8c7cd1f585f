from __future__ import annotations

import pytest

from bot.errors import NotFound, StateError
from bot.records import TurnKind
from storage.store import Store
from tests.storage.conftest import ALICE, BOB, CAROL, GUILD_A_CH1


async def _bot_turn(store: Store):  # type: ignore[no-untyped-def]
    story = await store.stories.create(GUILD_A_CH1, ALICE)
    turn = await store.turns.add(
        story.id, author_id="bot", author_name="Narrator", kind=TurnKind.BOT, text="Version A."
    )
    return story, turn


async def test_alternatives_keep_original_and_select_changes_turn_text(store: Store) -> None:
    story, turn = await _bot_turn(store)
    b = await store.alternatives.add(story.id, turn.id, "Version B.", token_count=3)
    assert (b.index, b.selected) == (1, True)
    assert (await store.turns.get(story.id, turn.id)).text == "Version B."
    c = await store.alternatives.add(story.id, turn.id, "Version C.", select_it=False)
    alts = await store.alternatives.all(story.id, turn.id)
    assert [(a.index, a.text, a.selected) for a in alts] == [
        (0, "Version A.", False),
        (1, "Version B.", True),
        (2, "Version C.", False),
    ]
    updated = await store.alternatives.select(story.id, turn.id, alts[0].id)
    assert updated.text == "Version A."
    assert [a.selected for a in await store.alternatives.all(story.id, turn.id)] == [
        True,
        False,
        False,
    ]
    assert c.id == alts[2].id


async def test_alternatives_only_for_bot_turns_of_the_story(store: Store) -> None:
    story, turn = await _bot_turn(store)
    player = await store.turns.add(
        story.id, author_id=ALICE.id, author_name="Alice", kind=TurnKind.PLAYER, text="hi"
    )
    with pytest.raises(StateError):
        await store.alternatives.add(story.id, player.id, "nope")
    with pytest.raises(NotFound):
        await store.alternatives.add(story.id + 1, turn.id, "wrong story")
    assert await store.alternatives.all(story.id + 1, turn.id) == []


async def test_one_vote_per_voter_can_change_and_tally(store: Store) -> None:
    story, turn = await _bot_turn(store)
    b = await store.alternatives.add(story.id, turn.id, "B")
    c = await store.alternatives.add(story.id, turn.id, "C")
    a = (await store.alternatives.all(story.id, turn.id))[0]
    await store.alternatives.vote(story.id, turn.id, b.id, ALICE.id)
    await store.alternatives.vote(story.id, turn.id, b.id, BOB.id)
    await store.alternatives.vote(story.id, turn.id, c.id, CAROL.id)
    await store.alternatives.vote(story.id, turn.id, b.id, ALICE.id)  # same vote again
    tally = await store.alternatives.tally(story.id, turn.id)
    assert [(v.alternative_id, v.votes) for v in tally] == [(b.id, 2), (c.id, 1), (a.id, 0)]
    await store.alternatives.vote(story.id, turn.id, c.id, BOB.id)  # change of mind
    tally = await store.alternatives.tally(story.id, turn.id)
    assert [(v.alternative_id, v.votes) for v in tally] == [(c.id, 2), (b.id, 1), (a.id, 0)]
    assert await store.alternatives.unvote(story.id, turn.id, CAROL.id)
    assert not await store.alternatives.unvote(story.id, turn.id, CAROL.id)
    tally = await store.alternatives.tally(story.id, turn.id)
    assert [(v.alternative_id, v.votes) for v in tally] == [(b.id, 1), (c.id, 1), (a.id, 0)]
    # A vote for an alternative of another turn is refused.
    other = await store.turns.add(
        story.id, author_id="bot", author_name="Narrator", kind=TurnKind.BOT, text="X"
    )
    with pytest.raises(NotFound):
        await store.alternatives.vote(story.id, other.id, b.id, ALICE.id)
