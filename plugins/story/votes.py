"""Votes (vote mode): the storyteller offers a few continuations, players vote, the winner
becomes the storyteller's turn and the others stay as its versions."""

from __future__ import annotations

from bot.errors import StateError, UsageError
from bot.plugin import Call
from bot.records import Story
from bot.types import Reply
from plugins.kit import textcraft
from plugins.story.env import StoryEnv
from plugins.story.game import GameState, Player, tally
from plugins.story.render import minutes, say, turn_buttons, when_all_voted
from plugins.story.session import Sessions, Write
from plugins.story.writing import StoryWriting

NO_OPTIONS = (
    "I couldn't write any options this time. Try `/story continue` again, or add a turn to "
    "steer me."
)


class Votes:
    """Opens, counts and closes the votes of the channels' vote-mode stories."""

    def __init__(self, env: StoryEnv, sessions: Sessions, writing: StoryWriting) -> None:
        self._env = env
        self._sessions = sessions
        self._writing = writing

    async def open(self, call: Call, story: Story, state: GameState) -> None:
        """Write the options and open a vote on them (call it without the channel lock)."""
        if state.vote is not None:
            raise StateError(
                f"A vote is already open — pick one with `/story vote <1-"
                f"{len(state.vote.candidates)}>`."
            )
        candidates = await self._writing.candidates(
            call, story, state, self._env.config.vote_candidates
        )
        if not candidates:
            await call.reply(NO_OPTIONS)
            return
        if len(candidates) == 1:
            async with self._sessions.lock(call.channel):
                turn = await self._sessions.storyteller_turn(call.channel, story.id, candidates[0])
            if turn is None:
                raise StateError("The story ended while I was writing.")
            await call.reply(
                Reply(
                    text="Only one option came out, so here it is:\n\n" + candidates[0],
                    buttons=turn_buttons(self._env.button, turn),
                )
            )
            return
        window = float((await self._sessions.guild(call.channel))["vote_window_s"])

        async def plan(current: Story | None) -> Write:
            if current is None or current.id != story.id:
                raise StateError("The story ended while I was writing.")
            now = GameState.from_dict(current.state)
            if now.vote is not None:
                raise StateError(f"Vote #{now.vote.number} is already open.")
            return Write(
                current, now.open_vote(tuple(candidates), now=self._env.now(), window=window)
            )

        async with self._sessions.lock(call.channel):
            written = await self._sessions.commit(call.channel, plan)
        assert written is not None
        vote = GameState.from_dict(written.story.state).vote
        assert vote is not None
        voters = len(state.players)
        lines = [
            f"🗳️ **Vote #{vote.number}: what happens next?** Vote with the buttons or "
            f"`/story vote <n>`. Closes in {minutes(window)}" + when_all_voted(voters)
        ]
        for i, text in enumerate(candidates, 1):
            lines.append(f"\n**{i}.** {text}")
        buttons = tuple(
            self._env.button("vote", f"Vote {i}", f"{vote.number}:{i}")
            for i in range(1, len(candidates) + 1)
        )
        await call.reply(Reply(text=textcraft.fit_message("\n".join(lines)), buttons=buttons))

    async def cast(
        self,
        call: Call,
        story: Story,
        state: GameState,
        round_number: int | None,
        n: int,
        *,
        caught_up: bool = False,
    ) -> None:
        """``call.author`` votes for option ``n`` (of vote ``round_number`` when pressed on a
        button); the vote closes once everyone voted. Call it with the channel lock held, after
        catching up (``caught_up``: that changed something, such as closing the vote)."""
        if state.vote is None or (round_number is not None and state.vote.number != round_number):
            raise StateError(
                "That vote is closed."
                if round_number is not None or caught_up
                else "There's no vote open right now."
            )
        if not 1 <= n <= len(state.vote.candidates):
            raise UsageError(
                f"Pick an option from 1 to {len(state.vote.candidates)}.", usage="/story vote <n>"
            )
        changed = call.author.id in state.vote.votes
        guild = await self._sessions.guild(call.channel)
        state = state.join(
            Player(call.author.id, call.author.name),
            now=self._env.now(),
            timeout=float(guild["turn_timeout_s"]),
        )
        state = state.cast_vote(call.author.id, n - 1)
        story = await self._sessions.save(story, state)
        votes = len(state.vote.votes) if state.vote is not None else 0
        if state.everyone_voted():
            _, _, note = await self.close(story, state)
            await say(call, [note])
            return
        verb = "changed to" if changed else "is in for"
        await call.notice(
            f"Your vote {verb} option {n} ({votes} of {len(state.players)} players voted)."
        )

    async def close(self, story: Story, state: GameState) -> tuple[Story, GameState, str]:
        """Count the open vote: the winner becomes the storyteller's turn, the other options
        its versions (with their votes). Returns the story, its state and the announcement."""
        vote = state.vote
        assert vote is not None
        outcome = tally(vote, seed=f"{story.id}:{vote.number}")
        winner = vote.candidates[outcome.winner]
        alternatives = self._env.context.store.alternatives
        state = state.vote_closed()
        written = await self._sessions.write(Write(story, state, self._sessions.narrator(winner)))
        story, turn = written.story, written.turn
        assert turn is not None
        alt_ids: dict[int, int] = {}
        for i, text in enumerate(vote.candidates):
            if i != outcome.winner:
                alt = await alternatives.add(story.id, turn.id, text, select_it=False)
                alt_ids[i] = alt.id
        if alt_ids:
            alts = await alternatives.all(story.id, turn.id)
            alt_ids[outcome.winner] = next(a.id for a in alts if a.index == 0)
            for voter, choice in vote.votes.items():
                if choice in alt_ids:
                    await alternatives.vote(story.id, turn.id, alt_ids[choice], voter)
        counts = ", ".join(f"{i + 1}: {n}" for i, n in enumerate(outcome.counts))
        total = sum(outcome.counts)
        if outcome.tied:
            tied = " and ".join(str(i + 1) for i in outcome.tied)
            head = (
                f"🗳️ Vote #{vote.number} closed ({counts}). It's a tie between options "
                f"{tied}, so I drew one at random (draw `{outcome.seed}`): "
                f"**option {outcome.winner + 1}** wins."
            )
        else:
            head = (
                f"🗳️ Vote #{vote.number} closed ({counts}; {total} vote"
                f"{'s' if total != 1 else ''}). **Option {outcome.winner + 1}** wins."
            )
        return story, state, head + "\n\n" + winner
