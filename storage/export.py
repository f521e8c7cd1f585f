"""Story export (Markdown, JSON) and import of the JSON back; ``storyloom export``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert

from bot.errors import NotFound, StateError, StorageError, UsageError
from bot.records import Story, StoryStatus, TurnKind
from bot.types import Author, ChannelRef
from storage.models import lore_entries, stories, turns
from storage.repositories._base import now
from storage.repositories.stories import story_from_row
from storage.settings import StorageSettings

if TYPE_CHECKING:
    from storage.store import Store

FORMAT_NAME = "storyloom.story"
FORMAT_VERSION = 1
ExportFormat = Literal["md", "json"]


class _TurnIn(BaseModel):
    author_id: str = ""
    author_name: str = ""
    kind: TurnKind
    text: str
    created_at: datetime | None = None


class _LoreIn(BaseModel):
    keys: list[str] = Field(min_length=1)
    text: str


class _StoryIn(BaseModel):
    title: str = Field(default="", max_length=200)
    premise: str = ""
    memory: str = ""
    author_note: str = ""
    mode: str = Field(default="free", max_length=32)


class _ExportIn(BaseModel):
    format: Literal["storyloom.story"]
    version: int = Field(ge=1, le=FORMAT_VERSION)
    story: _StoryIn
    lore: list[_LoreIn] = []
    turns: list[_TurnIn] = []


async def export_document(store: Store, story: Story) -> dict[str, Any]:
    """The story, its lore and its visible turns as a JSON-ready dict."""
    turn_list = await store.turns.all(story.id)
    lore = await store.lore.all(story.id)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "story": {
            "id": story.id,
            "title": story.title,
            "premise": story.premise,
            "memory": story.memory,
            "author_note": story.author_note,
            "mode": story.mode,
            "status": story.status.value,
            "guild_id": story.guild_id,
            "channel_id": story.channel_id,
            "created_by_id": story.created_by_id,
            "created_by_name": story.created_by_name,
            "created_at": story.created_at.isoformat(),
            "ended_at": story.ended_at.isoformat() if story.ended_at else None,
        },
        "lore": [{"keys": list(e.keys), "text": e.text} for e in lore],
        "turns": [
            {
                "position": t.position,
                "author_id": t.author_id,
                "author_name": t.author_name,
                "kind": t.kind.value,
                "text": t.text,
                "created_at": t.created_at.isoformat(),
            }
            for t in turn_list
        ],
    }


def render_markdown(doc: dict[str, Any]) -> str:
    """Markdown for an export document: header, premise, then the story with authors."""
    story = doc["story"]
    lines = [f"# {story['title'] or 'Untitled story'}", ""]
    started = story["created_at"][:10]
    lines += [f"*Started by {story['created_by_name']} on {started} · mode: {story['mode']}*", ""]
    for heading, key in (
        ("Premise", "premise"),
        ("Memory", "memory"),
        ("Author's note", "author_note"),
    ):
        if story[key].strip():
            lines += [f"## {heading}", "", story[key].strip(), ""]
    if doc["lore"]:
        lines += ["## Lore", ""]
        lines += [f"- **{', '.join(e['keys'])}**: {e['text'].strip()}" for e in doc["lore"]]
        lines.append("")
    lines += ["## Story", ""]
    authors: dict[str, int] = {}
    for turn in doc["turns"]:
        text = turn["text"].strip()
        if turn["kind"] == TurnKind.PLAYER.value:
            lines += [f"**{turn['author_name']}:** {text}", ""]
            authors[turn["author_name"]] = authors.get(turn["author_name"], 0) + 1
        elif turn["kind"] == TurnKind.BOT.value:
            lines += [text, ""]
        else:
            lines += [f"*{text}*", ""]
    if authors:
        lines += [
            "---",
            "",
            "Written by " + ", ".join(sorted(authors)) + " and the storyteller.",
            "",
        ]
    return "\n".join(lines)


async def export_story(store: Store, story: Story, fmt: str = "md") -> str:
    """The story as Markdown or JSON text."""
    doc = await export_document(store, story)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2)
    if fmt == "md":
        return render_markdown(doc)
    raise UsageError(f"Unknown export format {fmt!r}; use md or json.")


async def import_story(store: Store, data: str | bytes, channel: ChannelRef, by: Author) -> Story:
    """Create a new active story in ``channel`` from an exported JSON document, atomically."""
    try:
        doc = _ExportIn.model_validate_json(data)
    except ValidationError as exc:
        raise UsageError("That file is not a storyloom story export.") from exc
    stamp = now()
    async with store.db.write() as conn:
        try:
            row = (
                await conn.execute(
                    insert(stories)
                    .values(
                        guild_id=channel.guild_id,
                        channel_id=channel.channel_id,
                        channel_key=channel.key,
                        **doc.story.model_dump(),
                        status=StoryStatus.ACTIVE.value,
                        state={},
                        state_version=0,
                        created_by_id=by.id,
                        created_by_name=by.name,
                        created_at=stamp,
                    )
                    .returning(stories)
                )
            ).one()
        except Exception as exc:  # IntegrityError: the channel has an open story
            from sqlalchemy.exc import IntegrityError

            if isinstance(exc, IntegrityError):
                raise StateError(
                    "A story is already running in this channel. End it first."
                ) from exc
            raise
        story = story_from_row(row)
        if doc.turns:
            await conn.execute(
                insert(turns),
                [
                    {
                        "story_id": story.id,
                        "position": i,
                        "author_id": t.author_id,
                        "author_name": t.author_name,
                        "kind": t.kind.value,
                        "text": t.text,
                        "token_count": None,
                        "created_at": t.created_at or stamp,
                    }
                    for i, t in enumerate(doc.turns, start=1)
                ],
            )
        if doc.lore:
            await conn.execute(
                insert(lore_entries),
                [
                    {
                        "story_id": story.id,
                        "keys": e.keys,
                        "text": e.text,
                        "created_by_id": by.id,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    for e in doc.lore
                ],
            )
    return story


async def find_story(store: Store, *, story_id: int | None, channel: str | None) -> Story:
    """A story by id, or a channel's open (else newest) story by channel key."""
    if story_id is not None:
        return await store.stories.get_any(story_id)
    if channel:
        key = channel if ":" in channel else f"-:{channel}"
        active = await store.stories.get_active(key)
        if active:
            return active
        recent = await store.stories.list_for_channel(key, limit=1)
        if recent:
            return recent[0]
    raise NotFound("No story found; give --story-id or --channel GUILD:CHANNEL.")


async def export_to(
    settings: StorageSettings,
    *,
    story_id: int | None = None,
    channel: str | None = None,
    fmt: ExportFormat = "md",
    out: Path | None = None,
) -> str:
    """Open the database, export one story, write it to ``out`` (if given) and return it."""
    from storage.store import open_store

    store = await open_store(settings)
    try:
        story = await find_story(store, story_id=story_id, channel=channel)
        text = await export_story(store, story, fmt)
    finally:
        await store.close()
    if out is not None:
        try:
            await asyncio.to_thread(out.write_text, text, encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"cannot write {out}: {exc}") from exc
    return text


def run_export(
    settings: StorageSettings,
    *,
    story_id: int | None = None,
    channel: str | None = None,
    fmt: ExportFormat = "md",
    out: Path | None = None,
) -> str:
    """Synchronous entry point for ``storyloom export``."""
    return asyncio.run(export_to(settings, story_id=story_id, channel=channel, fmt=fmt, out=out))


async def export_command(
    settings: StorageSettings,
    *,
    story_id: int | None = None,
    channel: str | None = None,
    fmt: str = "md",
    out: Path | None = None,
) -> None:
    """``storyloom export``: write the story to ``out``, or to stdout when no file is given."""
    if fmt not in ("md", "json"):
        raise UsageError(f"Unknown export format {fmt!r}; use md or json.")
    text = await export_to(
        settings,
        story_id=story_id,
        channel=channel,
        fmt=cast(ExportFormat, fmt),
        out=out,
    )
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
