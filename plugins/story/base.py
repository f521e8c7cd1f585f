"""The parts of the story plugin, assembled once and shared by its command groups."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.errors import PermissionDenied
from bot.plugin import Plugin, PluginContext
from bot.records import Story
from bot.types import Author
from plugins.story.config import StorySettings
from plugins.story.env import StoryEnv
from plugins.story.session import Sessions
from plugins.story.timers import Timers
from plugins.story.turns import Turns, is_mod
from plugins.story.votes import Votes
from plugins.story.writing import StoryWriting


class StoryBase(Plugin):
    """Sessions, writing, votes, timers and turns of one story plugin, complete at
    construction. The command groups (:mod:`plugins.story.commands`) derive from it."""

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.env = StoryEnv(context, context.settings_as(StorySettings), time.time, self.button)
        self.sessions = Sessions(self.env)
        self.writing = StoryWriting(self.env, self.sessions)
        self.votes = Votes(self.env, self.sessions, self.writing)
        self.timers = Timers(self.env, self.sessions, self.votes)
        self.turns = Turns(self.env, self.sessions, self.timers, self.writing, self.votes)

    @property
    def config(self) -> StorySettings:
        """The ``[plugins.story]`` settings (tests may swap them)."""
        return self.env.config

    @config.setter
    def config(self, value: StorySettings) -> None:
        self.env.config = value

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds; tests replace it to move time forward."""
        return self.env.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.env.clock = value

    @staticmethod
    def require_manager(story: Story, author: Author, what: str) -> None:
        """Only the story's starter or a moderator may change its ``what``."""
        if story.created_by_id != author.id and not is_mod(author):
            raise PermissionDenied(
                f"Only {story.created_by_name} (who started the story) or a moderator can "
                f"change the {what}."
            )
