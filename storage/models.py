"""SQLAlchemy table definitions (the migrations must match these; a test checks for drift)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
IdType = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)
Id = String(64)
"""Platform ids (Discord snowflakes) are stored as strings."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[str | None] = mapped_column(Id)
    channel_id: Mapped[str] = mapped_column(Id)
    channel_key: Mapped[str] = mapped_column(String(140))
    title: Mapped[str] = mapped_column(String(200), default="")
    premise: Mapped[str] = mapped_column(Text, default="")
    memory: Mapped[str] = mapped_column(Text, default="")
    author_note: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(32), default="free")
    status: Mapped[str] = mapped_column(String(16), default="active")
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[str] = mapped_column(Id)
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_stories_channel_key_id", "channel_key", "id"),
        Index("ix_stories_guild_id", "guild_id"),
        # One open (not ended) story per channel, enforced by the database.
        Index(
            "uq_stories_open_per_channel",
            "channel_key",
            unique=True,
            sqlite_where=text("status != 'ended'"),
            postgresql_where=text("status != 'ended'"),
        ),
    )


class StoryEditRow(Base):
    __tablename__ = "story_edits"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class TurnRow(Base):
    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(Id, index=True)
    author_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    edited_at: Mapped[datetime | None] = mapped_column(Timestamp)
    removed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    removed_by: Mapped[str | None] = mapped_column(Id)
    removed_reason: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        # Positions are unique per story; context assembly walks this index backwards.
        UniqueConstraint("story_id", "position", name="uq_turns_story_id_position"),
    )


class AlternativeRow(Base):
    __tablename__ = "turn_alternatives"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer)
    selected: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("turn_id", "index", name="uq_turn_alternatives_turn_index"),)


class VoteRow(Base):
    __tablename__ = "votes"

    turn_id: Mapped[int] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True
    )
    voter_id: Mapped[str] = mapped_column(Id, primary_key=True)
    alternative_id: Mapped[int] = mapped_column(
        ForeignKey("turn_alternatives.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_votes_voter_id", "voter_id"),)


class LoreEntryRow(Base):
    __tablename__ = "lore_entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    keys: Mapped[list[str]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ChannelMessageRow(Base):
    __tablename__ = "channel_messages"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    channel_key: Mapped[str] = mapped_column(String(140))
    message_id: Mapped[str] = mapped_column(Id, default="")
    author_id: Mapped[str] = mapped_column(Id, index=True)
    author_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_channel_messages_channel_key_id", "channel_key", "id"),)


class ModerationEventRow(Base):
    __tablename__ = "moderation_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    guild_id: Mapped[str | None] = mapped_column(Id, index=True)
    channel_id: Mapped[str | None] = mapped_column(Id)
    user_id: Mapped[str | None] = mapped_column(Id, index=True)
    direction: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    excerpt_sha256: Mapped[str] = mapped_column(String(64))
    excerpt_len: Mapped[int] = mapped_column(Integer)
    excerpt: Mapped[str | None] = mapped_column(Text)


class SettingRow(Base):
    __tablename__ = "scoped_settings"

    namespace: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    guild_id: Mapped[str] = mapped_column(Id, primary_key=True)
    """'' for direct messages and the console."""
    channel_id: Mapped[str] = mapped_column(Id, primary_key=True)
    """'' for a guild-wide value."""
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_scoped_settings_scope", "guild_id", "channel_id"),)


stories = cast(Table, StoryRow.__table__)
story_edits = cast(Table, StoryEditRow.__table__)
turns = cast(Table, TurnRow.__table__)
alternatives = cast(Table, AlternativeRow.__table__)
votes = cast(Table, VoteRow.__table__)
lore_entries = cast(Table, LoreEntryRow.__table__)
channel_messages = cast(Table, ChannelMessageRow.__table__)
moderation_events = cast(Table, ModerationEventRow.__table__)
scoped_settings = cast(Table, SettingRow.__table__)
