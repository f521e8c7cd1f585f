"""Turns of a story: durable adds (group commit), undo, edit, windows."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import NotFound, StateError
from bot.records import RemovalReason, Turn, TurnKind
from storage.engine import Database
from storage.group_commit import GroupCommit, NewTurn, write_turns
from storage.models import stories, turns
from storage.repositories._base import aware, aware_now, now


def turn_from_row(row: Row[Any]) -> Turn:
    m = row._mapping
    return Turn(
        id=m["id"],
        story_id=m["story_id"],
        position=m["position"],
        author_id=m["author_id"],
        author_name=m["author_name"],
        kind=TurnKind(m["kind"]),
        text=m["text"],
        token_count=m["token_count"],
        created_at=aware_now(m["created_at"]),
        edited_at=aware(m["edited_at"]),
        removed_at=aware(m["removed_at"]),
        removed_by=m["removed_by"],
        removed_reason=RemovalReason(m["removed_reason"]) if m["removed_reason"] else None,
    )


_NO_TURN = "There is no such turn in this story."


class TurnRepository:
    """Turns are appended at increasing positions and never deleted: undo marks them removed."""

    def __init__(self, db: Database, group_commit: GroupCommit) -> None:
        self._db = db
        self._group_commit = group_commit
        self._write_turns = partial(write_turns, assign_ids=db.is_sqlite)

    async def add(
        self,
        story_id: int,
        *,
        author_id: str,
        author_name: str,
        kind: TurnKind,
        text: str,
        token_count: int | None = None,
        state: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Turn:
        """Append a turn. It is committed (durable) when this returns.

        With ``expected_version`` the story's mode state is replaced by ``state`` in the same
        transaction (its ``state_version`` becomes ``expected_version + 1``); when the version
        moved on, StaleState is raised and nothing is written (re-read the story and retry).

        Concurrent adds are committed together (group commit) and get positions in the order
        they were called. ``token_count`` is the size of the turn as context assembly renders
        it (see ``storage.context.render_turn``); leave it None to have assembly compute it.
        Raises NotFound for an unknown story and StateError for one that is not active.
        """
        turn: Turn = await self._group_commit.submit(
            self._write_turns,
            NewTurn(
                story_id,
                author_id,
                author_name,
                TurnKind(kind),
                text,
                token_count,
                state,
                expected_version,
            ),
        )
        return turn

    async def get(self, story_id: int, turn_id: int) -> Turn:
        query = select(turns).where(turns.c.id == turn_id, turns.c.story_id == story_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(_NO_TURN)
        return turn_from_row(row)

    async def last(self, story_id: int, *, include_removed: bool = False) -> Turn | None:
        """The newest turn (not undone unless ``include_removed``)."""
        window = await self.window(story_id, limit=1, include_removed=include_removed)
        return window[-1] if window else None

    async def window(
        self,
        story_id: int,
        *,
        limit: int = 20,
        before_position: int | None = None,
        include_removed: bool = False,
    ) -> list[Turn]:
        """Up to ``limit`` newest turns before ``before_position``, returned oldest first."""
        query = select(turns).where(turns.c.story_id == story_id)
        if before_position is not None:
            query = query.where(turns.c.position < before_position)
        if not include_removed:
            query = query.where(turns.c.removed_at.is_(None))
        query = query.order_by(turns.c.position.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = list(await conn.execute(query))
        return [turn_from_row(r) for r in reversed(rows)]

    async def all(self, story_id: int, *, include_removed: bool = False) -> list[Turn]:
        """Every turn of the story, oldest first (exports)."""
        query = select(turns).where(turns.c.story_id == story_id)
        if not include_removed:
            query = query.where(turns.c.removed_at.is_(None))
        async with self._db.read() as conn:
            return [turn_from_row(r) for r in await conn.execute(query.order_by(turns.c.position))]

    async def count(self, story_id: int, *, include_removed: bool = False) -> int:
        query = select(func.count()).select_from(turns).where(turns.c.story_id == story_id)
        if not include_removed:
            query = query.where(turns.c.removed_at.is_(None))
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def undo(
        self, story_id: int, *, by_user_id: str, only_author_id: str | None = None
    ) -> Turn:
        """Mark the newest turn removed (kept in the database) and return it.

        With ``only_author_id``, the newest turn must be that author's (StateError otherwise).
        """
        async with self._db.write() as conn:
            row = await self._lock_last(conn, story_id)
            if only_author_id is not None and row.author_id != only_author_id:
                raise StateError("The last turn isn't yours to undo.")
            row = (
                await conn.execute(
                    update(turns)
                    .where(turns.c.id == row.id)
                    .values(
                        removed_at=now(),
                        removed_by=by_user_id,
                        removed_reason=RemovalReason.UNDO.value,
                    )
                    .returning(turns)
                )
            ).one()
        return turn_from_row(row)

    async def remove(self, story_id: int, turn_id: int, *, by_user_id: str) -> Turn:
        """A moderator removes any turn of the story."""
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    update(turns)
                    .where(
                        turns.c.id == turn_id,
                        turns.c.story_id == story_id,
                        turns.c.removed_at.is_(None),
                    )
                    .values(
                        removed_at=now(),
                        removed_by=by_user_id,
                        removed_reason=RemovalReason.MODERATOR.value,
                    )
                    .returning(turns)
                )
            ).first()
        if row is None:
            raise NotFound(_NO_TURN)
        return turn_from_row(row)

    async def edit_last(
        self, story_id: int, *, author_id: str, text: str, token_count: int | None = None
    ) -> Turn:
        """Replace the text of the newest turn, which must be ``author_id``'s own."""
        async with self._db.write() as conn:
            row = await self._lock_last(conn, story_id)
            if row.author_id != author_id:
                raise StateError("You can only edit your own turn while it is the last one.")
            row = (
                await conn.execute(
                    update(turns)
                    .where(turns.c.id == row.id)
                    .values(text=text, token_count=token_count, edited_at=now())
                    .returning(turns)
                )
            ).one()
        return turn_from_row(row)

    async def cache_token_counts(self, counts: Mapping[int, int]) -> None:
        """Store computed token counts (context assembly calls this)."""
        if not counts:
            return

        query = (
            update(turns)
            .where(turns.c.id == bindparam("turn_id"))
            .values(token_count=bindparam("count"))
        )
        async with self._db.write() as conn:
            await conn.execute(query, [{"turn_id": tid, "count": n} for tid, n in counts.items()])

    @staticmethod
    async def _lock_last(conn: AsyncConnection, story_id: int) -> Row[Any]:
        # Lock the story row (PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE)
        # so no turn is added between reading the last turn and changing it.
        await conn.execute(select(stories.c.id).where(stories.c.id == story_id).with_for_update())
        row = (
            await conn.execute(
                select(turns)
                .where(turns.c.story_id == story_id, turns.c.removed_at.is_(None))
                .order_by(turns.c.position.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            raise StateError("There is no turn to change.")
        return row
