"""Turns: a player's turn, the storyteller's answer, and taking turns back (retry, swipe,
undo, edit).

Guarantees: a player's turn is committed before the storyteller answers; a blocked or failed
generation changes nothing (the storyteller's turn is added only after its final text passed
moderation); the channel lock is never held while the model writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import PermissionDenied, StateError, UsageError
from bot.plugin import Call
from bot.records import Story, TurnKind
from bot.types import Author, Permission, Reply, SentMessage
from plugins.kit import textcraft
from plugins.story.env import StoryEnv
from plugins.story.game import GameState, Player
from plugins.story.render import MESSAGE_ROOM, minutes, say, turn_buttons
from plugins.story.session import BOT_ID, NewTurn, Sessions, Write
from plugins.story.timers import Timers
from plugins.story.votes import Votes
from plugins.story.writing import StoryWriting


@dataclass(frozen=True, slots=True)
class Added:
    """A stored turn: is the storyteller due, and what to say after its answer."""

    due: bool
    after: tuple[str, ...] = ()


def is_mod(author: Author) -> bool:
    return author.has(Permission.MANAGE_MESSAGES)


class Turns:
    """The turn flow of a channel's story."""

    def __init__(
        self,
        env: StoryEnv,
        sessions: Sessions,
        timers: Timers,
        writing: StoryWriting,
        votes: Votes,
    ) -> None:
        self._env = env
        self._sessions = sessions
        self._timers = timers
        self._writing = writing
        self._votes = votes

    # -- a player's turn --------------------------------------------------------------------
    async def add(self, call: Call, text: str, *, typed_command: bool) -> Added | None:
        """Add the author's turn; call it with the channel lock held.

        The turn and the story's new state are stored in one version-checked transaction
        (:meth:`Sessions.commit`), so a turn is either stored with its state change or not at
        all. Returns None (doing nothing) for a plain message that is not a turn right now;
        else whether the storyteller is due (:meth:`after` lets it write once the lock is
        released) and the lines to post after its answer.
        """
        text = textcraft.normalize_space(text)
        if typed_command:  # a plain message is checked once it is known to be a turn
            self.check_text(text)
        author = call.author
        notes: list[str] = []
        guild: dict[str, Any] = {}

        async def plan(found: Story | None) -> Write | None:
            if found is None and not typed_command:
                return None
            story = await self._sessions.story(call.channel) if found is None else found
            self._sessions.watch(call.channel, story)
            story, state, more = await self._timers.catch_up(
                call.channel, story, GameState.from_dict(story.state), author.id
            )
            notes.extend(more)
            try:
                self._check_turn_order(story, state, author)
            except StateError:
                if notes:
                    await say(call, notes)
                if typed_command:
                    raise
                return None
            self.check_text(text)
            guild.update(await self._sessions.guild(call.channel))
            now, timeout = self._env.now(), float(guild["turn_timeout_s"])
            if story.mode == "round-robin":
                new_state = state.advance(now=now, timeout=timeout)
            else:
                new_state = state.join(Player(author.id, author.name), now=now, timeout=timeout)
            turn = NewTurn(author.id, author.name, TurnKind.PLAYER, text)
            return Write(story, new_state.player_wrote(), turn)

        written = await self._sessions.commit(call.channel, plan)
        if written is None:
            return None
        story, state = written.story, GameState.from_dict(written.story.state)
        lines = list(notes)
        if typed_command:
            lines.append(f"**{author.name}:** {textcraft.fit_message(text, MESSAGE_ROOM)}")
        after: list[str] = []
        if story.mode == "round-robin" and state.current_player is not None:
            timeout = float(guild["turn_timeout_s"])
            after.append(f"➡️ **{state.current_player.name}**, it's your turn ({minutes(timeout)}).")
        if self.bot_due(story, state, guild):
            await say(call, lines)
            return Added(due=True, after=tuple(after))
        await say(call, lines + after)
        return Added(due=False)

    @staticmethod
    def _check_turn_order(story: Story, state: GameState, author: Author) -> None:
        if state.vote is not None:
            raise StateError(
                f"A vote is open — pick what happens next first: `/story vote <1-"
                f"{len(state.vote.candidates)}>`."
            )
        if story.mode == "round-robin":
            current = state.current_player
            if not state.has(author.id):
                raise StateError(
                    "This is a round-robin story: join with `/story join`, then wait for your turn."
                )
            if current is not None and current.id != author.id:
                raise StateError(f"It's **{current.name}**'s turn right now — you're in the queue.")

    async def after(self, call: Call, added: Added | None) -> None:
        """Let the storyteller answer a turn that made it due (without the channel lock)."""
        if added is not None and added.due:
            await self.continue_now(call, auto=True)
            await say(call, list(added.after))

    def check_text(self, text: str) -> None:
        limit = self._env.config.max_turn_chars
        if not text:
            raise UsageError("Your turn is empty.", usage="/story add <text>")
        if len(text) > limit:
            raise UsageError(
                f"That turn is {len(text):,} characters; the limit is {limit:,}. "
                "Nothing was saved — please split it up.",
                usage="/story add <text>",
            )

    def bot_due(self, story: Story, state: GameState, guild: dict[str, Any]) -> bool:
        if story.mode == "round-robin":
            # once per round: as many player turns as there are players (skips included)
            return (
                self._env.config.round_robin_bot_each_round
                and bool(state.players)
                and state.since_bot >= len(state.players)
            )
        every = int(guild["auto_continue_every"])
        return every > 0 and state.since_bot >= every

    # -- the storyteller's turn -------------------------------------------------------------
    async def continue_now(self, call: Call, *, auto: bool) -> None:
        """Write the storyteller's next part (``auto``: only if still due after a turn).

        Continuations of a channel run one at a time (its generation lock); the channel lock
        is held only to read the story and to store the result, so turns and ``/story show``
        go on while the model writes.
        """
        sessions = self._sessions
        async with sessions.gen_lock(call.channel):
            async with sessions.lock(call.channel):
                story = await sessions.story(call.channel)
                story, state, notes = await self._timers.catch_up(
                    call.channel, story, GameState.from_dict(story.state), call.author.id
                )
                if auto and not self.bot_due(story, state, await sessions.guild(call.channel)):
                    await say(call, notes)
                    return
            await say(call, notes)
            if state.vote is not None:
                raise StateError(f"Vote #{state.vote.number} is still open — `/story vote <n>`.")
            if story.mode == "vote":
                await self._votes.open(call, story, state)
            else:
                await self._continue(call, story, state)

    async def _continue(self, call: Call, story: Story, state: GameState) -> None:
        text, message, others = await self._writing.write(call, story, state)
        if not text:
            return
        versions = 1
        alternatives = self._env.context.store.alternatives
        async with self._sessions.lock(call.channel):
            turn = await self._sessions.storyteller_turn(call.channel, story.id, text)
            if turn is not None and others:
                for other in others:  # the runners-up become versions (swipes)
                    await alternatives.add(story.id, turn.id, other, select_it=False)
                versions = len(await alternatives.all(story.id, turn.id))
        if turn is None:
            reply = Reply(
                text=f"{text}\n-# (Nothing was added: the story ended while I was writing.)"
            )
        else:
            reply = Reply(text=text, buttons=turn_buttons(self._env.button, turn, versions, 0))
        await _show(call, message, reply)

    async def retry(self, call: Call, turn_id: int | None) -> None:
        """Write the storyteller's last part again; the new version is selected."""
        store = self._env.context.store
        async with self._sessions.gen_lock(call.channel):
            async with self._sessions.lock(call.channel):
                story = await self._sessions.story(call.channel)
                state = GameState.from_dict(story.state)
                last = await store.turns.last(story.id)
                if last is None or last.kind is not TurnKind.BOT:
                    raise StateError(
                        "The last turn isn't mine, so there's nothing to retry. "
                        "Use `/story continue` for a new part."
                    )
                if turn_id is not None and last.id != turn_id:
                    raise StateError("That part isn't the latest any more, so it can't be retried.")
                existing = await store.alternatives.all(story.id, last.id)
            text, message, _ = await self._writing.write(
                call, story, state, exclude_turn_id=last.id, seed_offset=7 * (len(existing) or 1)
            )
            if not text:
                return
            async with self._sessions.lock(call.channel):
                newest = await store.turns.last(story.id)
                if newest is None or newest.id != last.id:
                    gone = f"{text}\n-# (Nothing was added: the story moved on meanwhile.)"
                    await _show(call, message, Reply(text=gone))
                    return
                await store.alternatives.add(story.id, last.id, text, select_it=True)
                alts = await store.alternatives.all(story.id, last.id)
        index = next(i for i, a in enumerate(alts) if a.selected)
        reply = Reply(
            text=f"{text}\n-# version {index + 1} of {len(alts)}",
            buttons=turn_buttons(self._env.button, last, len(alts), index),
        )
        await _show(call, message, reply)

    async def swipe(self, call: Call, turn_id: int | None, n: int) -> Reply:
        """Show version ``n`` of the storyteller's last part; call it with the channel lock."""
        store = self._env.context.store
        story = await self._sessions.story(call.channel)
        last = await store.turns.last(story.id)
        if last is None or last.kind is not TurnKind.BOT:
            raise StateError("The last turn isn't mine, so there are no versions to switch.")
        if turn_id is not None and last.id != turn_id:
            raise StateError("That part isn't the latest any more.")
        alts = await store.alternatives.all(story.id, last.id)
        if len(alts) < 2:
            raise StateError("My last part has only one version. `/story retry` writes another.")
        if not 1 <= n <= len(alts):
            raise UsageError(f"Pick a version from 1 to {len(alts)}.", usage="/story swipe <n>")
        turn = await store.alternatives.select(story.id, last.id, alts[n - 1].id)
        return Reply(
            text=f"{turn.text}\n-# version {n} of {len(alts)}",
            buttons=turn_buttons(self._env.button, turn, len(alts), n - 1),
        )

    # -- taking turns back ------------------------------------------------------------------
    async def undo(self, call: Call, turn_id: int | None) -> str:
        """Take back the last turn; call it with the channel lock held."""
        store = self._env.context.store
        story = await self._sessions.story(call.channel)
        state = GameState.from_dict(story.state)
        last = await store.turns.last(story.id)
        if last is None:
            raise StateError("There's nothing to undo yet.")
        if turn_id is not None and last.id != turn_id:
            raise StateError("That turn isn't the latest any more, so it can't be undone.")
        mod = is_mod(call.author)
        if last.kind is TurnKind.BOT:
            if not (mod or state.has(call.author.id) or story.created_by_id == call.author.id):
                raise PermissionDenied("Only the story's players or a moderator can undo my part.")
            only = None if mod else BOT_ID
        else:
            if last.author_id != call.author.id and not mod:
                raise PermissionDenied(
                    f"That's {last.author_name}'s turn — only they or a moderator can undo it."
                )
            only = None if mod else call.author.id
        undone = await store.turns.undo(story.id, by_user_id=call.author.id, only_author_id=only)
        if undone.kind is not TurnKind.PLAYER:
            return "↩️ Undid my last part. `/story continue` writes a new one."
        if story.mode == "round-robin":
            guild = await self._sessions.guild(call.channel)
            state = state.turn_to(
                undone.author_id, now=self._env.now(), timeout=float(guild["turn_timeout_s"])
            )
        await self._sessions.save(story, state.player_turn_undone())
        whose = "your" if undone.author_id == call.author.id else f"{undone.author_name}'s"
        tail = (
            f" It's **{undone.author_name}**'s turn again." if story.mode == "round-robin" else ""
        )
        return f"↩️ Undid {whose} turn.{tail}"

    async def edit(self, call: Call, text: str) -> str:
        """Rewrite the author's own last turn."""
        text = textcraft.normalize_space(text)
        limit = self._env.config.max_turn_chars
        if not text:
            raise UsageError("Write the new text after the command.", usage="/story edit <text>")
        if len(text) > limit:
            raise UsageError(
                f"That turn is too long (limit {limit:,} characters).", usage="/story edit <text>"
            )
        turns = self._env.context.store.turns
        async with self._sessions.lock(call.channel):
            story = await self._sessions.story(call.channel)
            last = await turns.last(story.id)
            if last is None or last.author_id != call.author.id:
                raise StateError("You can only edit your own turn while it's the latest one.")
            await turns.edit_last(story.id, author_id=call.author.id, text=text)
        return f"✏️ Updated your turn: **{call.author.name}:** {textcraft.fit_message(text, 1800)}"


async def _show(call: Call, message: SentMessage | None, reply: Reply) -> None:
    """Replace the streamed or posted ``message`` with ``reply`` (post it when there is none)."""
    if message is not None:
        await call.edit(message, reply)
    else:
        await call.reply(reply)
