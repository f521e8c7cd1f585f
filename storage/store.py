"""The storage facade the core uses, repositories behind one object; plugins see it through
:class:`bot.ports.PluginStore`.

Imports go one way: this module uses :mod:`storage.context` and :mod:`storage.export`, which
take the repositories they read and never import the store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.records import DeletionReport, PromptContext, Story
from bot.types import Author, ChannelRef
from storage.context import assemble_context
from storage.engine import Database
from storage.export import export_story, import_story
from storage.group_commit import GroupCommit
from storage.migrate import upgrade_database
from storage.repositories import (
    AlternativeRepository,
    LoreRepository,
    MessageRepository,
    ModerationEventRepository,
    ScopedSettings,
    StoryRepository,
    TurnRepository,
    UserDataRepository,
)
from storage.settings import StorageSettings

log = logging.getLogger(__name__)


class Store:
    """Everything stored, as repositories of plain records (no SQLAlchemy types leak out).

    - ``settings``: scoped config (defaults, per-guild and per-channel overrides, plugin
      enablement)
    - ``stories``, ``turns``, ``alternatives`` (swipes and votes), ``lore``
    - ``messages``: recent channel messages; ``moderation``: the audit log
    - ``users``: user data deletion

    Open it with :func:`open_store`; close it with :meth:`close` (queued turns are committed
    first).
    """

    def __init__(self, db: Database) -> None:
        s = db.settings
        self.db = db
        self._group_commit = GroupCommit(
            db, max_batch=s.group_commit_max_batch, linger_s=s.group_commit_linger_ms / 1000
        )
        self.settings = ScopedSettings(db, cache_ttl_s=s.settings_cache_ttl_s)
        self.stories = StoryRepository(db)
        self.turns = TurnRepository(db, self._group_commit)
        self.alternatives = AlternativeRepository(db)
        self.lore = LoreRepository(db)
        self.messages = MessageRepository(db, self._group_commit, cap=s.recent_messages_cap)
        self.moderation = ModerationEventRepository(db, store_excerpts=s.store_moderation_excerpts)
        self.users = UserDataRepository(db)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    @property
    def commit_batches(self) -> int:
        """Transactions the group-commit writer (turns, channel messages) committed so far."""
        return self._group_commit.batches

    async def assemble_context(
        self,
        story: Story | int,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        *,
        author_note_depth: int = 3,
        lore_scan_turns: int = 4,
        cue: str = "",
        prose: bool = False,
    ) -> PromptContext:
        """See :func:`storage.context.assemble_context`."""
        if isinstance(story, int):
            story = await self.stories.get_any(story)
        return await assemble_context(
            self.turns,
            self.lore,
            story,
            budget_tokens,
            count_tokens,
            author_note_depth=author_note_depth,
            lore_scan_turns=lore_scan_turns,
            cue=cue,
            prose=prose,
        )

    async def export_story(self, story: Story, fmt: str = "md") -> str:
        """The whole story as Markdown (``md``) or JSON (``json``), with authors."""
        return await export_story(self.turns, self.lore, story, fmt)

    async def import_story(
        self,
        data: str,
        channel: ChannelRef,
        by: Author,
        *,
        fmt: str = "json",
        narrator: Author | None = None,
        screen: Callable[[str], Awaitable[bool]] | None = None,
    ) -> Story:
        """Create a new story in ``channel`` from an exported JSON or Markdown document."""
        return await import_story(
            self.db, data, channel, by, fmt=fmt, narrator=narrator, screen=screen
        )

    async def delete_user_data(self, user_id: str) -> DeletionReport:
        """Remove or anonymise everything ``user_id`` wrote; see ``UserDataRepository``."""
        return await self.users.delete_user_data(user_id)

    async def close(self) -> None:
        """Commit queued turns, then close every connection."""
        await self._group_commit.close()
        await self.db.dispose()


async def open_store(
    settings: StorageSettings, *, observer: Callable[[str, float], None] | None = None
) -> Store:
    """Connect, upgrade the schema to head (unless disabled) and return the store;
    ``observer`` is told ``(operation, seconds)`` after each database operation (metrics)."""
    if settings.is_sqlite:
        from sqlalchemy.engine import make_url

        database = make_url(settings.url).database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings, observer=observer)
    try:
        if settings.apply_migrations:
            await upgrade_database(db)
    except BaseException:
        await db.dispose()
        raise
    return Store(db)
