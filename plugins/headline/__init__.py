"""The headline plugin: news-style headlines for a story, a text or the channel's conversation."""

from plugins.headline.plugin import HeadlinePlugin

__all__ = ["HeadlinePlugin"]
