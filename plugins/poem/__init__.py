"""The poem plugin: poems with checked forms (haiku, limerick, acrostic, couplet, quatrain, free verse)."""

from plugins.poem.plugin import PoemPlugin

__all__ = ["PoemPlugin"]
