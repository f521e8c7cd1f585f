"""Group commit: concurrent writers share one transaction, each waits for the commit.

Every ``submit`` puts an item on a queue and waits on a future. One writer task takes what is
queued (up to ``max_batch``), runs every item's operation in one transaction (on SQLite on a
dedicated thread, in one hop), commits, and only then resolves the futures: a caller's write is
durable when ``submit`` returns. While one batch commits the next one gathers, so the commit
(and its fsync) is shared by everyone writing at the same moment.

An operation is a synchronous function ``op(connection, items) -> results`` that handles all the
batch's items of its kind, in queue order, and returns per item the result or the
StoryloomError that refused it (only that caller sees the error; the rest commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from bot.errors import NotFound, StaleState, StateError, StorageError, StoryloomError
from bot.records import StoryStatus, Turn, TurnKind
from bot.types import utcnow as now
from storage.engine import Database
from storage.models import stories, turns

log = logging.getLogger(__name__)

BatchOp = Callable[[Connection, list[Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class NewTurn:
    story_id: int
    author_id: str
    author_name: str
    kind: TurnKind
    text: str
    token_count: int | None = None
    state: Mapping[str, Any] | None = None
    """With ``expected_version``: the story's new mode state, written with the turn."""
    expected_version: int | None = None
    """The story's ``state_version`` the caller read; the turn is refused (StaleState, nothing
    written) when it moved on. None: no check. Without ``state`` the version is only checked."""


@dataclass(slots=True)
class _Pending:
    op: BatchOp
    item: Any
    future: asyncio.Future[Any]

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def resolve(self, result: Any) -> None:
        if not self.future.done():
            self.future.set_result(result)


_STOP = object()


class GroupCommit:
    """The single writer task behind durable high-rate writes (turns, channel messages)."""

    def __init__(self, db: Database, *, max_batch: int = 512, linger_s: float = 0.0) -> None:
        self._db = db
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        """How many transactions were committed (for benchmarks and tests)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="storyloom-group-commit")

    async def submit(self, op: BatchOp, item: Any) -> Any:
        """Queue ``item`` for ``op`` and return its result once the batch is committed.

        Pass the same ``op`` object for items that belong together (they are handed to it as
        one list).
        """
        if self._closed:
            raise StorageError("the store is closed")
        self.start()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(op, item, future))
        return await future

    async def close(self) -> None:
        """Commit everything already queued, then stop the writer task."""
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(_STOP)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Pending)
            batch = [first]
            if self._linger_s:
                await asyncio.sleep(self._linger_s)
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Pending)
                batch.append(item)
            try:
                await self._commit(batch)
            except Exception as exc:  # the writer must survive anything
                log.exception("group commit failed")
                for pending in batch:
                    pending.fail(StorageError(f"could not store: {type(exc).__name__}"))

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = await self._db.run_batch(lambda conn: _run_ops(conn, batch))
        except StorageError as exc:
            if len(batch) == 1:
                batch[0].fail(exc)
                return
            # Something in the batch is bad: write them one by one so only it fails.
            for pending in batch:
                await self._commit([pending])
            return
        self.batches += 1
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                pending.fail(result)
            else:
                pending.resolve(result)


def _run_ops(conn: Connection, batch: list[_Pending]) -> list[Any]:
    results: list[Any] = [None] * len(batch)
    groups: dict[BatchOp, list[int]] = {}
    for i, pending in enumerate(batch):
        groups.setdefault(pending.op, []).append(i)
    for op, indexes in groups.items():
        out = op(conn, [batch[i].item for i in indexes])
        for i, result in zip(indexes, out, strict=True):
            results[i] = result
    return results


def write_turns(
    conn: Connection, new_turns: list[NewTurn], *, assign_ids: bool
) -> list[Turn | StoryloomError]:
    """Insert ``new_turns`` in order within the caller's transaction (synchronous, Core).

    Returns, per turn, the stored Turn or the error that refused it. With ``assign_ids`` the
    ids are assigned here (safe on SQLite, whose write lock is held since BEGIN IMMEDIATE);
    otherwise they are read back by (story, position).
    """
    story_ids = sorted({t.story_id for t in new_turns})
    last_position = (
        select(turns.c.position)
        .where(turns.c.story_id == stories.c.id)
        .order_by(turns.c.position.desc())
        .limit(1)
        .scalar_subquery()
    )
    max_id = select(func.max(turns.c.id)).scalar_subquery()
    state_query = (
        select(stories.c.id, stories.c.status, last_position, max_id, stories.c.state_version)
        .where(stories.c.id.in_(story_ids))
        .order_by(stories.c.id)
        .with_for_update(of=stories)  # serialises writers of other processes (PostgreSQL)
    )
    rows = conn.execute(state_query).all()
    status = {row[0]: row[1] for row in rows}
    first_new = {row[0]: (row[2] or 0) + 1 for row in rows}
    next_position = dict(first_new)
    version = {row[0]: row[4] for row in rows}
    new_state: dict[int, Mapping[str, Any]] = {}
    next_id = (rows[0][3] or 0) + 1 if rows and assign_ids else None
    created_at = now()
    outcomes: list[Turn | StoryloomError] = []
    values: list[dict[str, Any]] = []
    for t in new_turns:
        if t.story_id not in status:
            outcomes.append(NotFound("There is no such story."))
            continue
        if status[t.story_id] != StoryStatus.ACTIVE.value:
            outcomes.append(
                StateError(f"The story is {status[t.story_id]}; it takes no new turns.")
            )
            continue
        if t.expected_version is not None:
            if version[t.story_id] != t.expected_version:
                outcomes.append(StaleState())
                continue
            if t.state is not None:
                version[t.story_id] += 1
                new_state[t.story_id] = dict(t.state)
        position = next_position[t.story_id]
        next_position[t.story_id] += 1
        row: dict[str, Any] = {
            "story_id": t.story_id,
            "position": position,
            "author_id": t.author_id,
            "author_name": t.author_name,
            "kind": TurnKind(t.kind).value,
            "text": t.text,
            "token_count": t.token_count,
            "created_at": created_at,
        }
        if next_id is not None:
            row["id"] = next_id + len(values)
        values.append(row)
        outcomes.append(
            Turn(
                id=row.get("id", 0),
                story_id=t.story_id,
                position=position,
                author_id=t.author_id,
                author_name=t.author_name,
                kind=TurnKind(t.kind),
                text=t.text,
                token_count=t.token_count,
                created_at=created_at,
            )
        )
    if not values:
        return outcomes
    # A plain executemany is one fast statement (RETURNING with an ordered executemany would
    # insert row by row on SQLite).
    conn.execute(insert(turns), values)
    if new_state:
        conn.execute(
            update(stories)
            .where(stories.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state", type_=stories.c.state.type),
                state_version=bindparam("b_version"),
            ),
            [
                {"b_id": sid, "b_state": state, "b_version": version[sid]}
                for sid, state in new_state.items()
            ],
        )
    if next_id is None:
        new_ranges = or_(
            *(
                and_(turns.c.story_id == sid, turns.c.position >= first)
                for sid, first in first_new.items()
            )
        )
        id_of = {
            (r[1], r[2]): r[0]
            for r in conn.execute(
                select(turns.c.id, turns.c.story_id, turns.c.position).where(new_ranges)
            )
        }
        outcomes = [
            replace(o, id=id_of[(o.story_id, o.position)]) if isinstance(o, Turn) else o
            for o in outcomes
        ]
    return outcomes
