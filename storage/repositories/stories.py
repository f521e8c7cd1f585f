"""Stories: one open story per channel, scoped reads, field edits with history, mode state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.errors import NotFound, StaleState, StateError, StorageError
from bot.records import Story, StoryEdit, StoryStatus
from bot.types import Author, ChannelRef
from storage.engine import Database
from storage.models import stories, story_edits
from storage.repositories._base import aware, aware_now, channel_key, now

EDITABLE_FIELDS = ("title", "premise", "memory", "author_note", "mode")


def story_from_row(row: Row[Any]) -> Story:
    m = row._mapping
    return Story(
        id=m["id"],
        guild_id=m["guild_id"],
        channel_id=m["channel_id"],
        channel_key=m["channel_key"],
        title=m["title"],
        premise=m["premise"],
        memory=m["memory"],
        author_note=m["author_note"],
        mode=m["mode"],
        status=StoryStatus(m["status"]),
        state=dict(m["state"] or {}),
        state_version=m["state_version"],
        created_by_id=m["created_by_id"],
        created_by_name=m["created_by_name"],
        created_at=aware_now(m["created_at"]),
        ended_at=aware(m["ended_at"]),
    )


_NO_STORY = "There is no such story in this channel."


class StoryRepository:
    """Stories per channel. Reads are scoped: a story id from elsewhere reads as not found."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        channel: ChannelRef,
        author: Author,
        *,
        title: str = "",
        premise: str = "",
        memory: str = "",
        author_note: str = "",
        mode: str = "free",
        state: Mapping[str, Any] | None = None,
    ) -> Story:
        """Start a story in ``channel``; StateError when the channel already has an open one."""
        values = {
            "guild_id": channel.guild_id,
            "channel_id": channel.channel_id,
            "channel_key": channel.key,
            "title": title,
            "premise": premise,
            "memory": memory,
            "author_note": author_note,
            "mode": mode,
            "status": StoryStatus.ACTIVE.value,
            "state": dict(state or {}),
            "state_version": 0,
            "created_by_id": author.id,
            "created_by_name": author.name,
            "created_at": now(),
        }
        try:
            async with self._db.write() as conn:
                row = (await conn.execute(insert(stories).values(values).returning(stories))).one()
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StateError(
                    "A story is already running in this channel. End it first."
                ) from exc
            raise
        return story_from_row(row)

    async def get_active(self, channel: ChannelRef | str) -> Story | None:
        """The channel's open (active or paused) story, if any."""
        query = select(stories).where(
            stories.c.channel_key == channel_key(channel),
            stories.c.status != StoryStatus.ENDED.value,
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return story_from_row(row) if row else None

    async def get(self, story_id: int, channel: ChannelRef | str) -> Story:
        """The story ``story_id`` if it belongs to ``channel``; NotFound otherwise."""
        query = select(stories).where(
            stories.c.id == story_id, stories.c.channel_key == channel_key(channel)
        )
        return await self._one(query)

    async def get_in_guild(self, story_id: int, guild_id: str | None) -> Story:
        """The story ``story_id`` if it belongs to a channel of ``guild_id``; NotFound otherwise."""
        cond = stories.c.guild_id.is_(None) if guild_id is None else stories.c.guild_id == guild_id
        return await self._one(select(stories).where(stories.c.id == story_id, cond))

    async def get_any(self, story_id: int) -> Story:
        """Unscoped read, for operators (CLI export). Plugins use ``get``."""
        return await self._one(select(stories).where(stories.c.id == story_id))

    async def list_for_channel(self, channel: ChannelRef | str, *, limit: int = 25) -> list[Story]:
        """The channel's stories, newest first."""
        query = (
            select(stories)
            .where(stories.c.channel_key == channel_key(channel))
            .order_by(stories.c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [story_from_row(r) for r in await conn.execute(query)]

    async def update(
        self,
        story_id: int,
        *,
        by_user_id: str,
        title: str | None = None,
        premise: str | None = None,
        memory: str | None = None,
        author_note: str | None = None,
        mode: str | None = None,
    ) -> Story:
        """Change the given fields (None leaves a field alone) and record who changed what."""
        changes = {
            name: value
            for name, value in (
                ("title", title),
                ("premise", premise),
                ("memory", memory),
                ("author_note", author_note),
                ("mode", mode),
            )
            if value is not None
        }
        return await self._change(story_id, changes, by_user_id=by_user_id)

    async def set_status(self, story_id: int, status: StoryStatus, *, by_user_id: str) -> Story:
        """Pause, resume or end a story (history recorded)."""
        changes: dict[str, Any] = {"status": StoryStatus(status).value}
        if status == StoryStatus.ENDED:
            changes["ended_at"] = now()
        try:
            return await self._change(story_id, changes, by_user_id=by_user_id)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StateError("Another story is already running in this channel.") from exc
            raise

    async def end(self, story_id: int, *, by_user_id: str) -> Story:
        return await self.set_status(story_id, StoryStatus.ENDED, by_user_id=by_user_id)

    async def update_state(
        self, story_id: int, state: Mapping[str, Any], *, expected_version: int
    ) -> Story:
        """Replace the mode state if nobody changed it since ``expected_version``.

        Raises StaleState when the version moved on (re-read the story and retry).
        """
        query = (
            update(stories)
            .where(stories.c.id == story_id, stories.c.state_version == expected_version)
            .values(state=dict(state), state_version=expected_version + 1)
            .returning(stories)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                exists = (
                    await conn.execute(select(stories.c.id).where(stories.c.id == story_id))
                ).first()
                if exists is None:
                    raise NotFound(_NO_STORY)
                raise StaleState()
        return story_from_row(row)

    async def history(self, story_id: int) -> list[StoryEdit]:
        """Every recorded change of the story, oldest first."""
        query = (
            select(story_edits).where(story_edits.c.story_id == story_id).order_by(story_edits.c.id)
        )
        async with self._db.read() as conn:
            return [
                StoryEdit(
                    id=r.id,
                    story_id=r.story_id,
                    field=r.field,
                    old_value=r.old_value,
                    new_value=r.new_value,
                    user_id=r.user_id,
                    created_at=aware_now(r.created_at),
                )
                for r in await conn.execute(query)
            ]

    async def _one(self, query: Any) -> Story:
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(_NO_STORY)
        return story_from_row(row)

    async def _change(self, story_id: int, changes: dict[str, Any], *, by_user_id: str) -> Story:
        async with self._db.write() as conn:
            row = (await conn.execute(select(stories).where(stories.c.id == story_id))).first()
            if row is None:
                raise NotFound(_NO_STORY)
            before = row._mapping
            edits = [
                {
                    "story_id": story_id,
                    "field": name,
                    "old_value": _text(before[name]),
                    "new_value": _text(value),
                    "user_id": by_user_id,
                    "created_at": now(),
                }
                for name, value in changes.items()
                if name != "ended_at" and before[name] != value
            ]
            if not edits:
                return story_from_row(row)
            row = (
                await conn.execute(
                    update(stories)
                    .where(stories.c.id == story_id)
                    .values(**changes)
                    .returning(stories)
                )
            ).one()
            await conn.execute(insert(story_edits), edits)
        return story_from_row(row)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
