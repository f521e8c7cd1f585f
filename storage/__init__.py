"""Storage: stories, turns, settings and audit log in SQLite or PostgreSQL.

The core uses :class:`storage.store.Store`; plugins see it through the narrow
:class:`bot.ports.PluginStore`. Records are the plain values of :mod:`bot.records` (re-exported
here); nothing here exposes SQLAlchemy.
"""

from typing import TYPE_CHECKING

from bot.records import (
    Alternative,
    ChannelMessage,
    DeletionReport,
    LoreEntry,
    ModerationDirection,
    ModerationEvent,
    PromptContext,
    PromptPart,
    PromptPartKind,
    RemovalReason,
    Story,
    StoryEdit,
    StoryStatus,
    Turn,
    TurnKind,
    VoteCount,
)
from storage.settings import StorageSettings

if TYPE_CHECKING:
    from storage.store import Store, open_store

__all__ = [
    "Alternative",
    "ChannelMessage",
    "DeletionReport",
    "LoreEntry",
    "ModerationDirection",
    "ModerationEvent",
    "PromptContext",
    "PromptPart",
    "PromptPartKind",
    "RemovalReason",
    "StorageSettings",
    "Store",
    "Story",
    "StoryEdit",
    "StoryStatus",
    "Turn",
    "TurnKind",
    "VoteCount",
    "open_store",
]


def __getattr__(name: str) -> object:
    # Store and open_store import SQLAlchemy; load them only when asked for.
    if name in ("Store", "open_store"):
        from storage import store

        return getattr(store, name)
    raise AttributeError(name)
