"""The story plugin: collaborative story games (free, round-robin and vote modes)."""

from plugins.story.config import StorySettings
from plugins.story.plugin import StoryPlugin

__all__ = ["StoryPlugin", "StorySettings"]
