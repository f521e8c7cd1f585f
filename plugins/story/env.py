"""What every part of the story plugin shares: its settings, its clock and its ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.plugin import PluginContext
from bot.types import Button
from plugins.story.config import StorySettings


@dataclass(slots=True)
class StoryEnv:
    """One per plugin, handed to each part; tests move ``clock`` forward or swap ``config``."""

    context: PluginContext
    config: StorySettings
    clock: Callable[[], float]
    """Wall-clock seconds (turn timeouts, vote windows)."""
    button: Callable[..., Button]
    """The plugin's :meth:`~bot.plugin.Plugin.button`: ``button(action, label, arg, style=)``."""

    def now(self) -> float:
        return self.clock()
