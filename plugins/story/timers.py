"""Timers: what time does to a game (round-robin players who time out, votes that expire).

Time is applied lazily by the next command in the channel (:meth:`Timers.catch_up`) and by a
background tick (:meth:`Timers.tick`); what the tick changed is announced with the channel's
next reply, since a plugin cannot post on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.records import Story
from bot.types import ChannelRef
from plugins.story.env import StoryEnv
from plugins.story.game import GameState
from plugins.story.render import names
from plugins.story.session import TIMED_MODES, Sessions
from plugins.story.votes import Votes

log = logging.getLogger(__name__)


class Timers:
    """Turn timeouts and vote deadlines of the channels' timed games."""

    def __init__(self, env: StoryEnv, sessions: Sessions, votes: Votes) -> None:
        self._env = env
        self._sessions = sessions
        self._votes = votes
        self.pending: dict[str, list[str]] = {}
        """Channel key -> announcements of what the tick changed, for the next reply there."""
        self._ticker: asyncio.Task[None] | None = None

    def start(self, interval_s: float) -> None:
        """Tick every ``interval_s`` seconds in the background (0: never)."""
        if interval_s > 0:
            self._ticker = asyncio.create_task(self._tick_forever(interval_s))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _tick_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.tick()
            except Exception:  # keep ticking; tick() logs per channel already
                log.exception("story tick failed")

    def take_pending(self, channel: ChannelRef) -> list[str]:
        return self.pending.pop(channel.key, [])

    async def needs_catch_up(self, channel: ChannelRef, story: Story, state: GameState) -> bool:
        """Would :meth:`catch_up` change or announce anything now?"""
        if self.pending.get(channel.key):
            return True
        now = self._env.now()
        if state.vote is not None and state.vote.deadline <= now:
            return True
        if story.mode == "round-robin":
            guild = await self._sessions.guild(channel)
            new_state, _ = state.skip_expired(
                now=now, timeout=float(guild["turn_timeout_s"]), actor_id=None
            )
            return new_state != state
        return False

    async def catch_up(
        self, channel: ChannelRef, story: Story, state: GameState, actor_id: str | None
    ) -> tuple[Story, GameState, list[str]]:
        """Apply what time did: skip timed-out players (never ``actor_id``, who is acting
        now), close an expired vote. Returns the story, its state and what to announce."""
        notes = self.take_pending(channel)
        guild = await self._sessions.guild(channel)
        now = self._env.now()
        if story.mode == "round-robin":
            new_state, skipped = state.skip_expired(
                now=now, timeout=float(guild["turn_timeout_s"]), actor_id=actor_id
            )
            if new_state != state:
                story = await self._sessions.save(story, new_state)
                state = new_state
            if skipped:
                who = names([p.name for p in skipped])
                nxt = state.current_player
                notes.append(
                    f"⏰ {who} didn't write in time and {'was' if len(skipped) == 1 else 'were'} "
                    f"skipped. It's **{nxt.name if nxt else '?'}**'s turn now."
                )
        if state.vote is not None and state.vote.deadline <= now:
            story, state, note = await self._votes.close(story, state)
            notes.append(note)
        return story, state, notes

    async def tick(self) -> int:
        """Advance timed games in every channel this process has seen.

        Skips round-robin players whose turn timed out and closes expired votes; what happened
        is announced with the next reply in that channel. Returns the number of channels that
        changed.
        """
        changed = 0
        for key, channel in list(self._sessions.watched.items()):
            try:
                async with self._sessions.lock(channel):
                    story = await self._sessions.current(channel, fresh=True)
                    if story is None or story.mode not in TIMED_MODES:
                        self._sessions.watched.pop(key, None)
                        continue
                    before = story.state_version
                    story, _, notes = await self.catch_up(
                        channel, story, GameState.from_dict(story.state), None
                    )
                    if notes:
                        self.pending.setdefault(key, []).extend(notes)
                    if story.state_version != before:
                        changed += 1
            except Exception:
                log.exception("story tick failed in %s", key)
        return changed
