"""Mode rules of a story game: join order, timeouts, votes and fair tie-breaks."""

from __future__ import annotations

import pytest

from plugins.story.config import sampling_params
from plugins.story.game import GameState, Player, VoteRound, tally

A, B, C = Player("a", "Alice"), Player("b", "Bob"), Player("c", "Carol")


def three() -> GameState:
    state = GameState()
    for p in (A, B, C):
        state = state.join(p, now=0.0, timeout=10.0)
    return state


def test_join_keeps_order_and_ignores_repeats() -> None:
    state = three().join(A, now=5.0, timeout=10.0)
    assert [p.name for p in state.players] == ["Alice", "Bob", "Carol"]
    assert state.current_player == A and state.deadline == 10.0


def test_advance_and_leave() -> None:
    state = three().advance(now=1.0, timeout=10.0)
    assert state.current_player == B and state.deadline == 11.0
    # the current player leaves: the next one's turn starts now
    left = state.leave("b", now=3.0, timeout=10.0)
    assert left.current_player == C and left.deadline == 13.0
    # someone before the current player leaves: still the same player's turn
    earlier = state.leave("a", now=3.0, timeout=10.0)
    assert earlier.current_player == B and earlier.deadline == 11.0
    assert GameState().leave("x", now=0, timeout=1) == GameState()
    assert (
        three()
        .leave("a", now=0, timeout=1)
        .leave("b", now=0, timeout=1)
        .leave("c", now=0, timeout=1)
        .players
        == ()
    )


def test_skip_expired_skips_absent_players_but_never_the_actor() -> None:
    state = three()  # Alice's turn until t=10
    same, skipped = state.skip_expired(now=9.0, timeout=10.0)
    assert same == state and skipped == []
    after, skipped = state.skip_expired(now=12.0, timeout=10.0, actor_id="b")
    assert skipped == [A] and after.current_player == B and after.deadline == 20.0
    # two timeouts passed: Alice and Bob are skipped, Carol's turn runs until 30
    after, skipped = state.skip_expired(now=25.0, timeout=10.0, actor_id="c")
    assert skipped == [A, B] and after.current_player == C and after.deadline == 30.0
    # the late player acting on their own turn is not skipped
    mine, skipped = state.skip_expired(now=12.0, timeout=10.0, actor_id="a")
    assert skipped == [] and mine.current_player == A and mine.deadline == 22.0
    # everyone long gone: at most one round of skips, then the clock restarts from now
    far, skipped = state.skip_expired(now=1000.0, timeout=10.0)
    assert skipped == [A, B, C] and far.current_player == A and far.deadline == 1010.0


def test_state_round_trips_through_json_dict() -> None:
    state = three().advance(now=1, timeout=5).open_vote(("x", "y"), now=2, window=30)
    state = state.cast_vote("a", 1)
    assert GameState.from_dict(state.to_dict()) == state
    assert GameState.from_dict(None) == GameState()


def test_votes_replace_and_everyone_voted() -> None:
    state = three().open_vote(("one", "two", "three"), now=0.0, window=60.0)
    assert state.vote is not None and state.vote.number == 1 and state.vote.deadline == 60.0
    state = state.cast_vote("a", 0).cast_vote("a", 2).cast_vote("b", 2)
    assert state.vote is not None and dict(state.vote.votes) == {"a": 2, "b": 2}
    assert not state.everyone_voted()
    assert state.cast_vote("c", 1).everyone_voted()
    with pytest.raises(ValueError):
        state.cast_vote("c", 3)
    with pytest.raises(ValueError):
        GameState().cast_vote("a", 0)


def test_tally_majority_and_seeded_fair_tie_break() -> None:
    vote = VoteRound(1, ("x", "y", "z"), 0.0, {"a": 1, "b": 1, "c": 0})
    outcome = tally(vote, "7:1")
    assert outcome.winner == 1 and outcome.counts == (1, 2, 0) and outcome.tied == ()
    tie = VoteRound(2, ("x", "y", "z"), 0.0, {"a": 0, "b": 2})
    first = tally(tie, "7:2")
    assert first.tied == (0, 2) and first.winner in (0, 2) and first.seed == "7:2"
    assert tally(tie, "7:2") == first  # reproducible from the announced seed
    winners = {tally(tie, f"7:{n}").winner for n in range(40)}
    assert winners == {0, 2}  # every tied option can win; the untied one never does
    nobody = tally(VoteRound(3, ("x", "y"), 0.0, {}), "1:3")
    assert nobody.tied == (0, 1)


def test_sampling_presets_and_overrides() -> None:
    params = sampling_params(
        "focused", overrides={"temperature": 0.3, "bogus": 1}, max_new_tokens=40, seed=5
    )
    assert params.temperature == 0.3 and params.top_k == 30 and params.max_new_tokens == 40
    assert params.seed == 5
    assert sampling_params("nope", max_new_tokens=10).temperature == 0.8
