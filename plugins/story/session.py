"""Session state: each channel's running story, its locks, and the one save-with-retry.

The running story of each channel is cached in memory (``active_cache_s``) and updated by every
change made through the plugin, so the hot paths (a turn, ``/story show``, "is this plain
message a turn?") read nothing from the database; the other commands read the story fresh.
Another process (PostgreSQL deployments) may change a story behind the cache: every state
write carries the version it was based on (StaleState when it moved on, after which the entry is
dropped), and :meth:`Sessions.commit` reads the story again and retries. Turns are refused for
an ended story. ``/story show`` may show what another process changed up to ``active_cache_s``
late; turns are never lost or misplaced.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from bot.errors import NotFound, StateError
from bot.records import Story, Turn, TurnKind
from bot.types import ChannelRef
from plugins.kit.locks import KeyedLocks
from plugins.story.config import SETTINGS_NAMESPACE
from plugins.story.env import StoryEnv
from plugins.story.game import GameState
from plugins.story.render import USAGE_NO_STORY

BOT_ID = "storyloom"
"""``author_id`` of the storyteller's turns."""
WRITE_ATTEMPTS = 3
"""How often a version-checked write is retried on a fresh read when another writer came first."""
CACHE_SWEEP_AT = 1024
"""Cached stories kept before expired entries are swept out."""
TIMED_MODES = ("round-robin", "vote")


@dataclass(frozen=True, slots=True)
class NewTurn:
    """A turn to store together with a state change."""

    author_id: str
    author_name: str
    kind: TurnKind
    text: str


@dataclass(frozen=True, slots=True)
class Write:
    """One version-checked write: ``story``'s mode state becomes ``state`` (with ``turn``
    stored in the same transaction when given)."""

    story: Story
    state: GameState
    turn: NewTurn | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """What a :class:`Write` stored: the story as it now is, and the turn if there was one."""

    story: Story
    turn: Turn | None


Plan = Callable[[Story | None], Awaitable[Write | None]]
"""Given the channel's running story (None: there is none), what to write (None: nothing)."""


class Sessions:
    """The running stories of the channels this process serves."""

    def __init__(self, env: StoryEnv) -> None:
        self._env = env
        self._locks = KeyedLocks()
        self._gen_locks = KeyedLocks()
        self._stories: dict[str, tuple[float, Story | None]] = {}
        """Channel key -> (expires, its running story or None)."""
        self.watched: dict[str, ChannelRef] = {}
        """Channels with a timed game (round-robin, vote) that :meth:`Timers.tick` visits."""

    # -- locks ------------------------------------------------------------------------------
    def lock(self, channel: ChannelRef) -> AbstractAsyncContextManager[None]:
        """Held while a channel's story is read-and-changed (never while generating)."""
        return self._locks.hold(channel.key)

    def gen_lock(self, channel: ChannelRef) -> AbstractAsyncContextManager[None]:
        """Held while the storyteller writes for a channel (taken before :meth:`lock`)."""
        return self._gen_locks.hold(channel.key)

    # -- the cache --------------------------------------------------------------------------
    def remember(self, key: str, story: Story | None) -> None:
        ttl = self._env.config.active_cache_s
        if ttl > 0:
            now = time.monotonic()
            if len(self._stories) >= CACHE_SWEEP_AT:  # keep memory to the channels in use
                self._stories = {k: v for k, v in self._stories.items() if v[0] > now}
            self._stories[key] = (now + ttl, story)
        else:
            self._stories.pop(key, None)

    def forget(self, channel: ChannelRef) -> None:
        self._stories.pop(channel.key, None)

    def watch(self, channel: ChannelRef, story: Story) -> None:
        if story.mode in TIMED_MODES:
            self.watched[channel.key] = channel

    async def current(self, channel: ChannelRef, *, fresh: bool = False) -> Story | None:
        """The channel's running story (cached unless ``fresh``), or None."""
        if not fresh:
            cached = self._stories.get(channel.key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        story = await self._env.context.store.stories.get_active(channel)
        self.remember(channel.key, story)
        return story

    async def story(self, channel: ChannelRef, *, cached: bool = False) -> Story:
        """The running story, read from the database unless ``cached`` (the hot paths);
        StateError when there is none."""
        story = await self.current(channel, fresh=not cached)
        if story is None:
            raise StateError(USAGE_NO_STORY)
        self.watch(channel, story)
        return story

    async def guild(self, channel: ChannelRef) -> dict[str, Any]:
        """The story settings in force in ``channel`` (guild and channel overrides applied)."""
        return await self._env.context.store.settings.get_all(
            SETTINGS_NAMESPACE, guild_id=channel.guild_id, channel_id=channel.channel_id
        )

    # -- writes -----------------------------------------------------------------------------
    async def save(self, story: Story, state: GameState) -> Story:
        """Store ``state`` as the story's mode state (version-checked, once)."""
        return (await self.write(Write(story, state))).story

    async def storyteller_turn(
        self,
        channel: ChannelRef,
        story_id: int,
        text: str,
        change: Callable[[GameState], GameState] | None = None,
    ) -> Turn | None:
        """Store the storyteller's turn with ``change`` (default: the storyteller is no longer
        due) applied to the story's latest state; None when the story ended meanwhile. Call it
        with the channel lock held."""

        async def plan(current: Story | None) -> Write | None:
            if current is None or current.id != story_id:
                return None
            state = GameState.from_dict(current.state)
            new = change(state) if change is not None else state.storyteller_wrote()
            return Write(current, new, self.narrator(text))

        written = await self.commit(channel, plan)
        return written.turn if written is not None else None

    def narrator(self, text: str) -> NewTurn:
        """``text`` as the storyteller's turn."""
        return NewTurn(BOT_ID, self._env.config.narrator_name, TurnKind.BOT, text)

    async def commit(self, channel: ChannelRef, plan: Plan) -> Written | None:
        """The one save-with-retry: ``plan`` the write on the channel's running story and store
        it (version-checked); when another writer came first or the story ended meanwhile, read
        the story again and plan again, up to ``WRITE_ATTEMPTS`` times. None when the plan
        wrote nothing. Call it with the channel lock held."""
        for attempt in range(WRITE_ATTEMPTS):
            write = await plan(await self.current(channel, fresh=attempt > 0))
            if write is None:
                return None
            try:
                return await self.write(write)
            except (StateError, NotFound):  # stale version, or the story ended elsewhere
                if attempt + 1 == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def write(self, write: Write) -> Written:
        """Store one :class:`Write` (version-checked, once); a lost write drops the cached
        story and raises StaleState (or StateError / NotFound when the story ended or is gone)."""
        story, data = write.story, write.state.to_dict()
        store = self._env.context.store
        turn: Turn | None = None
        try:
            if write.turn is None:
                saved = await store.stories.update_state(
                    story.id, data, expected_version=story.state_version
                )
            else:
                new = write.turn
                turn = await store.turns.add(
                    story.id,
                    author_id=new.author_id,
                    author_name=new.author_name,
                    kind=new.kind,
                    text=new.text,
                    state=data,
                    expected_version=story.state_version,
                )
                saved = dataclasses.replace(
                    story, state=data, state_version=story.state_version + 1
                )
        except (StateError, NotFound):  # StaleState included: another writer came first
            self._stories.pop(story.channel_key, None)
            raise
        self.remember(saved.channel_key, saved)
        return Written(saved, turn)
