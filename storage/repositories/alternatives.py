"""Alternatives ("swipes") of a bot turn and votes on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import NotFound, StateError
from bot.records import Alternative, Turn, TurnKind, VoteCount
from storage.engine import Database
from storage.models import alternatives, turns, votes
from storage.repositories._base import aware_now, now, upsert
from storage.repositories.turns import turn_from_row


def alternative_from_row(row: Row[Any]) -> Alternative:
    m = row._mapping
    return Alternative(
        id=m["id"],
        turn_id=m["turn_id"],
        index=m["index"],
        text=m["text"],
        token_count=m["token_count"],
        selected=bool(m["selected"]),
        created_at=aware_now(m["created_at"]),
    )


class AlternativeRepository:
    """Candidate texts of a bot turn. The turn's text always follows the selected one."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        story_id: int,
        turn_id: int,
        text: str,
        *,
        token_count: int | None = None,
        select_it: bool = True,
    ) -> Alternative:
        """Add a candidate to a bot turn (the turn's original text becomes alternative 0).

        With ``select_it`` the new text becomes the turn's text at once.
        """
        async with self._db.write() as conn:
            turn = await _bot_turn(conn, story_id, turn_id)
            existing = list(
                await conn.execute(
                    select(alternatives.c.index)
                    .where(alternatives.c.turn_id == turn_id)
                    .order_by(alternatives.c.index)
                )
            )
            created = now()
            if not existing:
                await conn.execute(
                    insert(alternatives).values(
                        turn_id=turn_id,
                        index=0,
                        text=turn.text,
                        token_count=turn.token_count,
                        selected=True,
                        created_at=created,
                    )
                )
                next_index = 1
            else:
                next_index = existing[-1][0] + 1
            row = (
                await conn.execute(
                    insert(alternatives)
                    .values(
                        turn_id=turn_id,
                        index=next_index,
                        text=text,
                        token_count=token_count,
                        selected=False,
                        created_at=created,
                    )
                    .returning(alternatives)
                )
            ).one()
            if select_it:
                row = await _select(conn, turn_id, row.id)
        return alternative_from_row(row)

    async def all(self, story_id: int, turn_id: int) -> list[Alternative]:
        """The turn's alternatives in the order they were made (empty if it has none)."""
        query = (
            select(alternatives)
            .join(turns, turns.c.id == alternatives.c.turn_id)
            .where(alternatives.c.turn_id == turn_id, turns.c.story_id == story_id)
            .order_by(alternatives.c.index)
        )
        async with self._db.read() as conn:
            return [alternative_from_row(r) for r in await conn.execute(query)]

    async def select(self, story_id: int, turn_id: int, alternative_id: int) -> Turn:
        """Make ``alternative_id`` the turn's text; returns the updated turn."""
        async with self._db.write() as conn:
            await _bot_turn(conn, story_id, turn_id)
            await _select(conn, turn_id, alternative_id)
            row = (await conn.execute(select(turns).where(turns.c.id == turn_id))).one()
        return turn_from_row(row)

    async def vote(self, story_id: int, turn_id: int, alternative_id: int, voter_id: str) -> None:
        """Cast or change ``voter_id``'s one vote on the turn."""
        async with self._db.write() as conn:
            await _bot_turn(conn, story_id, turn_id)
            await _alternative(conn, turn_id, alternative_id)
            await upsert(
                conn,
                votes,
                {
                    "turn_id": turn_id,
                    "voter_id": voter_id,
                    "alternative_id": alternative_id,
                    "created_at": now(),
                },
                keys=("turn_id", "voter_id"),
                update=("alternative_id", "created_at"),
            )

    async def unvote(self, story_id: int, turn_id: int, voter_id: str) -> bool:
        async with self._db.write() as conn:
            await _bot_turn(conn, story_id, turn_id)
            result = await conn.execute(
                delete(votes).where(votes.c.turn_id == turn_id, votes.c.voter_id == voter_id)
            )
        return bool(result.rowcount)

    async def tally(self, story_id: int, turn_id: int) -> list[VoteCount]:
        """Votes per alternative (every alternative listed), most votes first, ties by index."""
        count = func.count(votes.c.voter_id)
        query = (
            select(alternatives.c.id, count)
            .join(turns, turns.c.id == alternatives.c.turn_id)
            .outerjoin(votes, votes.c.alternative_id == alternatives.c.id)
            .where(alternatives.c.turn_id == turn_id, turns.c.story_id == story_id)
            .group_by(alternatives.c.id, alternatives.c.index)
            .order_by(count.desc(), alternatives.c.index)
        )
        async with self._db.read() as conn:
            return [
                VoteCount(alternative_id=r[0], votes=int(r[1])) for r in await conn.execute(query)
            ]


async def _bot_turn(conn: AsyncConnection, story_id: int, turn_id: int) -> Row[Any]:
    row = (
        await conn.execute(select(turns).where(turns.c.id == turn_id, turns.c.story_id == story_id))
    ).first()
    if row is None:
        raise NotFound("There is no such turn in this story.")
    if row.kind != TurnKind.BOT.value:
        raise StateError("Only the storyteller's turns have alternatives.")
    return row


async def _alternative(conn: AsyncConnection, turn_id: int, alternative_id: int) -> Row[Any]:
    row = (
        await conn.execute(
            select(alternatives).where(
                alternatives.c.id == alternative_id, alternatives.c.turn_id == turn_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("There is no such alternative for this turn.")
    return row


async def _select(conn: AsyncConnection, turn_id: int, alternative_id: int) -> Row[Any]:
    chosen = await _alternative(conn, turn_id, alternative_id)
    await conn.execute(
        update(alternatives)
        .where(alternatives.c.turn_id == turn_id)
        .values(selected=alternatives.c.id == alternative_id)
    )
    await conn.execute(
        update(turns)
        .where(turns.c.id == turn_id)
        .values(text=chosen.text, token_count=chosen.token_count, edited_at=now())
    )
    return (
        await conn.execute(select(alternatives).where(alternatives.c.id == alternative_id))
    ).one()
