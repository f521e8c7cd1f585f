"""Plain values the storage ports take and return (stories, turns, lore, prompt contexts).

They belong to the plugin API: plugins and the core import them from here; ``storage`` builds
them from database rows. Nothing here imports SQLAlchemy. Every record is a frozen dataclass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class StoryStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class TurnKind(enum.StrEnum):
    PLAYER = "player"
    BOT = "bot"
    SYSTEM = "system"


class RemovalReason(enum.StrEnum):
    UNDO = "undo"
    MODERATOR = "moderator"


class ModerationDirection(enum.StrEnum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class Story:
    """A story in one channel. At most one non-ended story exists per channel."""

    id: int
    guild_id: str | None
    channel_id: str
    channel_key: str
    title: str
    premise: str
    memory: str
    author_note: str
    mode: str
    status: StoryStatus
    state: Mapping[str, Any]
    """Mode-specific state (round-robin order, current player, vote window ...)."""
    state_version: int
    """Bumped on every state change; pass it back to ``update_state`` (optimistic locking)."""
    created_by_id: str
    created_by_name: str
    created_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoryEdit:
    """One change of a story field: who changed what, from which value to which."""

    id: int
    story_id: int
    field: str
    old_value: str | None
    new_value: str | None
    user_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Turn:
    """One contribution to a story. Undone turns stay stored with ``removed_at`` set."""

    id: int
    story_id: int
    position: int
    author_id: str
    author_name: str
    kind: TurnKind
    text: str
    token_count: int | None
    created_at: datetime
    edited_at: datetime | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    removed_reason: RemovalReason | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


@dataclass(frozen=True, slots=True)
class Alternative:
    """One candidate text ("swipe") of a bot turn; the turn shows the selected one."""

    id: int
    turn_id: int
    index: int
    text: str
    token_count: int | None
    selected: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VoteCount:
    alternative_id: int
    votes: int


@dataclass(frozen=True, slots=True)
class LoreEntry:
    """World info: ``text`` enters the prompt when any of ``keys`` appears in recent turns."""

    id: int
    story_id: int
    keys: tuple[str, ...]
    text: str
    created_by_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """A recent message seen in a channel (bounded per channel)."""

    id: int
    channel_key: str
    message_id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModerationEvent:
    """An audit-log entry. The offending text is kept only as a hash and a length by default."""

    id: int
    created_at: datetime
    guild_id: str | None
    channel_id: str | None
    user_id: str | None
    direction: ModerationDirection
    rule: str
    category: str
    action: str
    score: float | None
    excerpt_sha256: str
    excerpt_len: int
    excerpt: str | None = None


@dataclass(frozen=True, slots=True)
class DeletionReport:
    """What ``delete_user_data`` removed or anonymised, by kind."""

    user_id: str
    turns_anonymised: int = 0
    messages_deleted: int = 0
    votes_removed: int = 0
    lore_entries_deleted: int = 0
    stories_anonymised: int = 0
    story_edits_anonymised: int = 0
    moderation_events_anonymised: int = 0

    @property
    def total(self) -> int:
        return (
            self.turns_anonymised
            + self.messages_deleted
            + self.votes_removed
            + self.lore_entries_deleted
            + self.stories_anonymised
            + self.story_edits_anonymised
            + self.moderation_events_anonymised
        )


class PromptPartKind(enum.StrEnum):
    MEMORY = "memory"
    LORE = "lore"
    AUTHOR_NOTE = "author_note"
    TURN = "turn"
    CUE = "cue"


@dataclass(frozen=True, slots=True)
class PromptPart:
    kind: PromptPartKind
    text: str
    tokens: int
    ref_id: int | None = None
    """The turn id (TURN) or lore entry id (LORE) this part came from."""


@dataclass(frozen=True, slots=True)
class PromptContext:
    """An assembled prompt: ``text`` is the parts joined by newlines, in order."""

    parts: tuple[PromptPart, ...]
    text: str
    total_tokens: int
    budget_tokens: int
    turn_ids: tuple[int, ...] = field(default=())
    """Included turns, oldest first."""
    lore_ids: tuple[int, ...] = field(default=())
    truncated: bool = False
    """True when older turns were left out for lack of budget."""
