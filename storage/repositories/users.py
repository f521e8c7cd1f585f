"""Deleting a user's data on request (Discord developer policy)."""

from __future__ import annotations

from sqlalchemy import delete, update

from bot.records import DeletionReport
from storage.engine import Database
from storage.models import (
    channel_messages,
    lore_entries,
    moderation_events,
    stories,
    story_edits,
    turns,
    votes,
)

DELETED_ID = "deleted"
DELETED_NAME = "[deleted user]"
DELETED_TEXT = "[deleted]"


class UserDataRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def delete_user_data(self, user_id: str) -> DeletionReport:
        """Remove or anonymise everything ``user_id`` wrote, in one transaction.

        Turns keep their place in the story (so others' turns still read in order) but lose
        text, author id and name; recent messages, votes and lore entries the user wrote are
        deleted; stories they started and edits they made lose the author; audit-log entries
        lose the user id and any stored excerpt.
        """
        async with self._db.write() as conn:
            turns_done = await conn.execute(
                update(turns)
                .where(turns.c.author_id == user_id)
                .values(
                    author_id=DELETED_ID,
                    author_name=DELETED_NAME,
                    text=DELETED_TEXT,
                    token_count=None,
                )
            )
            await conn.execute(
                update(turns).where(turns.c.removed_by == user_id).values(removed_by=DELETED_ID)
            )
            messages = await conn.execute(
                delete(channel_messages).where(channel_messages.c.author_id == user_id)
            )
            votes_done = await conn.execute(delete(votes).where(votes.c.voter_id == user_id))
            lore = await conn.execute(
                delete(lore_entries).where(lore_entries.c.created_by_id == user_id)
            )
            stories_done = await conn.execute(
                update(stories)
                .where(stories.c.created_by_id == user_id)
                .values(created_by_id=DELETED_ID, created_by_name=DELETED_NAME)
            )
            edits = await conn.execute(
                update(story_edits)
                .where(story_edits.c.user_id == user_id)
                .values(user_id=DELETED_ID, old_value=None, new_value=None)
            )
            events = await conn.execute(
                update(moderation_events)
                .where(moderation_events.c.user_id == user_id)
                .values(user_id=None, excerpt=None)
            )
        return DeletionReport(
            user_id=user_id,
            turns_anonymised=turns_done.rowcount,
            messages_deleted=messages.rowcount,
            votes_removed=votes_done.rowcount,
            lore_entries_deleted=lore.rowcount,
            stories_anonymised=stories_done.rowcount,
            story_edits_anonymised=edits.rowcount,
            moderation_events_anonymised=events.rowcount,
        )
