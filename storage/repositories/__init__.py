"""Repositories: what the rest of storyloom uses instead of sessions."""

from storage.repositories.alternatives import AlternativeRepository
from storage.repositories.lore import LoreRepository
from storage.repositories.messages import MessageRepository
from storage.repositories.moderation import ModerationEventRepository
from storage.repositories.settings import ScopedSettings
from storage.repositories.stories import StoryRepository
from storage.repositories.turns import TurnRepository
from storage.repositories.users import UserDataRepository

__all__ = [
    "AlternativeRepository",
    "LoreRepository",
    "MessageRepository",
    "ModerationEventRepository",
    "ScopedSettings",
    "StoryRepository",
    "TurnRepository",
    "UserDataRepository",
]
