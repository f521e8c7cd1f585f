"""The mode state of one story game (players, turn order, vote window), as pure values.

The state is stored in ``Story.state`` (a JSON object) and changed with optimistic locking; every
function here returns a new :class:`GameState` and never touches I/O, so the rules are easy to
test. Times are wall-clock seconds (``time.time()``) because deadlines survive restarts.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Player:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class VoteRound:
    """An open vote: candidate continuations and who voted for which (0-based index)."""

    number: int
    candidates: tuple[str, ...]
    deadline: float
    votes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """How a vote ended: the winner, the counts, and the tie that was broken (if any)."""

    winner: int
    counts: tuple[int, ...]
    tied: tuple[int, ...] = ()
    seed: str = ""


@dataclass(frozen=True, slots=True)
class GameState:
    players: tuple[Player, ...] = ()
    """Joined players, in join order (round-robin order)."""
    current: int = 0
    """Round-robin: index of the player whose turn it is."""
    deadline: float | None = None
    """Round-robin: when the current player's turn times out."""
    since_bot: int = 0
    """Player turns since the storyteller last wrote."""
    vote: VoteRound | None = None
    vote_rounds: int = 0
    preset: str = ""
    sampling_preset: str = ""

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "players": [{"id": p.id, "name": p.name} for p in self.players],
            "current": self.current,
            "deadline": self.deadline,
            "since_bot": self.since_bot,
            "vote_rounds": self.vote_rounds,
            "preset": self.preset,
            "sampling_preset": self.sampling_preset,
            "vote": None,
        }
        if self.vote is not None:
            data["vote"] = {
                "number": self.vote.number,
                "candidates": list(self.vote.candidates),
                "deadline": self.vote.deadline,
                "votes": dict(self.vote.votes),
            }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GameState:
        data = data or {}
        vote = None
        raw_vote = data.get("vote")
        if isinstance(raw_vote, Mapping) and raw_vote.get("candidates"):
            vote = VoteRound(
                number=int(raw_vote.get("number", 0)),
                candidates=tuple(str(c) for c in raw_vote["candidates"]),
                deadline=float(raw_vote.get("deadline", 0.0)),
                votes={str(k): int(v) for k, v in dict(raw_vote.get("votes", {})).items()},
            )
        players = tuple(
            Player(str(p["id"]), str(p.get("name", p["id"])))
            for p in data.get("players", [])
            if isinstance(p, Mapping) and "id" in p
        )
        current = int(data.get("current", 0))
        deadline = data.get("deadline")
        return cls(
            players=players,
            current=current % len(players) if players else 0,
            deadline=float(deadline) if deadline is not None else None,
            since_bot=int(data.get("since_bot", 0)),
            vote=vote,
            vote_rounds=int(data.get("vote_rounds", 0)),
            preset=str(data.get("preset", "")),
            sampling_preset=str(data.get("sampling_preset", "")),
        )

    # -- the storyteller's due count ---------------------------------------------------------
    def storyteller_wrote(self) -> GameState:
        """The storyteller just wrote; it is due again once players have written."""
        return dataclasses.replace(self, since_bot=0)

    def player_wrote(self) -> GameState:
        return dataclasses.replace(self, since_bot=self.since_bot + 1)

    def player_turn_undone(self) -> GameState:
        return dataclasses.replace(self, since_bot=max(0, self.since_bot - 1))

    # -- players --------------------------------------------------------------------------
    def has(self, player_id: str) -> bool:
        return any(p.id == player_id for p in self.players)

    @property
    def current_player(self) -> Player | None:
        return self.players[self.current] if self.players else None

    def join(self, player: Player, *, now: float, timeout: float) -> GameState:
        """Add ``player`` at the end of the order (no change when already in)."""
        if self.has(player.id):
            return self
        players = (*self.players, player)
        deadline = self.deadline if self.players else now + timeout
        return dataclasses.replace(self, players=players, deadline=deadline)

    def leave(self, player_id: str, *, now: float, timeout: float) -> GameState:
        """Remove a player; when it was their turn, the next player's turn starts now."""
        index = next((i for i, p in enumerate(self.players) if p.id == player_id), None)
        if index is None:
            return self
        players = self.players[:index] + self.players[index + 1 :]
        if not players:
            return dataclasses.replace(self, players=(), current=0, deadline=None)
        current, deadline = self.current, self.deadline
        if index < current:
            current -= 1
        elif index == current:
            current %= len(players)
            deadline = now + timeout
        return dataclasses.replace(
            self, players=players, current=current % len(players), deadline=deadline
        )

    def advance(self, *, now: float, timeout: float) -> GameState:
        """The current player is done: the next one's turn starts."""
        if not self.players:
            return self
        return dataclasses.replace(
            self, current=(self.current + 1) % len(self.players), deadline=now + timeout
        )

    def turn_to(self, player_id: str, *, now: float, timeout: float) -> GameState:
        """Make it ``player_id``'s turn (after an undo of their turn)."""
        index = next((i for i, p in enumerate(self.players) if p.id == player_id), None)
        if index is None:
            return self
        return dataclasses.replace(self, current=index, deadline=now + timeout)

    def skip_expired(
        self, *, now: float, timeout: float, actor_id: str | None = None
    ) -> tuple[GameState, list[Player]]:
        """Skip players whose turn timed out; the acting player is never skipped.

        Each skip gives the next player a full ``timeout`` from the previous deadline; after a
        whole round of skips the clock restarts from ``now``.
        """
        state = self
        skipped: list[Player] = []
        while (
            state.players
            and state.deadline is not None
            and state.deadline <= now
            and state.current_player is not None
            and state.current_player.id != actor_id
            and len(skipped) < len(state.players)
        ):
            skipped.append(state.current_player)
            state = dataclasses.replace(
                state,
                current=(state.current + 1) % len(state.players),
                deadline=state.deadline + timeout,
            )
        if state.deadline is not None and state.deadline <= now:
            state = dataclasses.replace(state, deadline=now + timeout)
        return state, skipped

    # -- votes ----------------------------------------------------------------------------
    def open_vote(self, candidates: tuple[str, ...], *, now: float, window: float) -> GameState:
        number = self.vote_rounds + 1
        return dataclasses.replace(
            self, vote=VoteRound(number, candidates, now + window), vote_rounds=number
        )

    def cast_vote(self, voter_id: str, choice: int) -> GameState:
        """Record (or replace) ``voter_id``'s vote; ``choice`` is 0-based."""
        if self.vote is None:
            raise ValueError("no vote is open")
        if not 0 <= choice < len(self.vote.candidates):
            raise ValueError("no such candidate")
        votes = {**self.vote.votes, voter_id: choice}
        return dataclasses.replace(self, vote=dataclasses.replace(self.vote, votes=votes))

    def vote_closed(self) -> GameState:
        """The open vote is over; its winner is the storyteller's new turn."""
        return dataclasses.replace(self, vote=None, since_bot=0)

    def everyone_voted(self) -> bool:
        if self.vote is None or not self.players:
            return False
        return all(p.id in self.vote.votes for p in self.players)


def tally(vote: VoteRound, seed: str) -> VoteOutcome:
    """Count the votes; a tie is broken by a random pick among the tied, seeded by ``seed``.

    The seed (story id and vote number) makes the pick reproducible and announceable, and every
    tied candidate has the same chance.
    """
    counts = [0] * len(vote.candidates)
    for choice in vote.votes.values():
        if 0 <= choice < len(counts):
            counts[choice] += 1
    best = max(counts)
    tied = tuple(i for i, c in enumerate(counts) if c == best)
    if len(tied) == 1:
        return VoteOutcome(tied[0], tuple(counts))
    winner = random.Random(seed).choice(tied)
    return VoteOutcome(winner, tuple(counts), tied, seed)
