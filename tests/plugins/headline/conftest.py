"""Headline tests share the poem tests' app fixtures."""

from tests.plugins.poem.conftest import chat_app, verse_app

__all__ = ["chat_app", "verse_app"]
