"""The story plugin: collaborative story games in a channel.

Players start a story, take turns (``/story add`` or just typing), ask the storyteller to
continue, retry and swipe between versions, undo and edit, vote on what happens next, and steer
the story with memory, an author's note and lore. Three modes: ``free`` (anyone, any time),
``round-robin`` (players in join order, a timeout skips absent ones) and ``vote`` (the
storyteller offers 2-3 continuations, players vote).

The plugin is assembled from its parts (:class:`~plugins.story.base.StoryBase`): session state
(:mod:`.session`), writing (:mod:`.writing`), votes (:mod:`.votes`), timers (:mod:`.timers`) and
turns (:mod:`.turns`); its commands come in three groups (:mod:`.commands`).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from bot.plugin import Call, trigger
from bot.types import Incoming
from plugins.kit import words
from plugins.story.commands.lifecycle import LifecycleCommands
from plugins.story.commands.play import PlayCommands
from plugins.story.commands.steering import SteeringCommands
from plugins.story.config import SETTINGS_NAMESPACE

OOC_PREFIXES = ("(", "//", "((", "ooc", "OOC", "#")
"""Plain messages starting with these are table talk, not story turns."""


class StoryPlugin(LifecycleCommands, PlayCommands, SteeringCommands):
    """Write stories together in a channel."""

    name: ClassVar[str] = "story"
    description: ClassVar[str] = "Write stories together: take turns, vote, retry, undo, export."

    async def setup(self) -> None:
        await asyncio.to_thread(words.load_lexicons)
        c = self.config
        self.context.store.settings.register_defaults(
            SETTINGS_NAMESPACE,
            auto_continue_every=c.auto_continue_every,
            turn_timeout_s=c.turn_timeout_s,
            vote_window_s=c.vote_window_s,
            sampling_preset=c.sampling_preset,
            temperature=None,
            max_new_tokens=c.max_new_tokens,
        )
        self.timers.start(c.tick_interval_s)

    async def teardown(self) -> None:
        await self.timers.stop()

    async def tick(self) -> int:
        """Advance timed games now (see :meth:`plugins.story.timers.Timers.tick`)."""
        return await self.timers.tick()

    async def wants_message(self, incoming: Incoming) -> bool:
        text = incoming.text.strip()
        if not text or text.startswith(OOC_PREFIXES):
            return False
        return await self.sessions.current(incoming.channel) is not None

    @trigger("turn")
    async def on_message(self, call: Call) -> bool:
        """A plain message in a channel with a running story is a turn."""
        async with self.sessions.lock(call.channel):
            added = await self.turns.add(call, call.incoming.text, typed_command=False)
        if added is None:
            return False
        await self.turns.after(call, added)
        return True
