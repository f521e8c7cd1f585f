"""Story export (Markdown, JSON) and import of either back (``storyloom export`` is
:mod:`storage.export_command`; the Markdown form is :mod:`storage.story_markdown`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert

from bot.errors import Blocked, StateError, UsageError
from bot.records import Story, StoryStatus, TurnKind
from bot.types import Author, ChannelRef
from storage.engine import Database
from storage.models import lore_entries, stories, turns
from storage.repositories import LoreRepository, TurnRepository
from storage.repositories._base import now
from storage.repositories.stories import story_from_row
from storage.story_markdown import parse_markdown, render_markdown

FORMAT_NAME = "storyloom.story"
FORMAT_VERSION = 1


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


async def export_document(
    turn_repo: TurnRepository, lore_repo: LoreRepository, story: Story
) -> dict[str, Any]:
    """The story, its lore and its visible turns as a JSON-ready dict."""
    turn_list = await turn_repo.all(story.id)
    lore = await lore_repo.all(story.id)
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


async def export_story(
    turn_repo: TurnRepository, lore_repo: LoreRepository, story: Story, fmt: str = "md"
) -> str:
    """The story as Markdown or JSON text."""
    doc = await export_document(turn_repo, lore_repo, story)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2)
    if fmt == "md":
        return render_markdown(doc)
    raise UsageError(f"Unknown export format {fmt!r}; use md or json.")


def parse_export(
    data: str | bytes, fmt: str = "json", *, narrator: Author | None = None
) -> _ExportIn:
    """A validated export document from JSON or Markdown text; raises UsageError that says
    what is wrong (not JSON, not a story export, a field that does not fit)."""
    if fmt == "md":
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = parse_markdown(
            text,
            narrator_id=narrator.id if narrator else "",
            narrator_name=narrator.name if narrator else "",
        )
        try:
            return _ExportIn.model_validate(doc)
        except ValidationError as exc:
            raise UsageError(f"That Markdown story does not fit: {_first_problem(exc)}.") from exc
    if fmt != "json":
        raise UsageError(f"Unknown import format {fmt!r}; use json or md.")
    try:
        return _ExportIn.model_validate_json(data)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise UsageError(
                "That is not valid JSON. Use the file `/story export json` wrote, unchanged."
            ) from exc
        raise UsageError(
            f"That JSON is not a storyloom story export ({_first_problem(exc)})."
        ) from exc


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the document"
    return f"{where}: {error['msg'].lower()}"


async def _screen(doc: _ExportIn, screen: Callable[[str], Awaitable[bool]]) -> None:
    story = doc.story
    parts = [
        ("the title", story.title),
        ("the premise", story.premise),
        ("the memory", story.memory),
        ("the author's note", story.author_note),
        *((f"lore entry {i}", e.text) for i, e in enumerate(doc.lore, start=1)),
        *((f"turn {i}", t.text) for i, t in enumerate(doc.turns, start=1)),
    ]
    for where, text in parts:
        if text.strip() and not await screen(text):
            raise Blocked(
                f"The story was not imported: {where} tripped this server's content filter. "
                "Nothing was saved."
            )


async def import_story(
    db: Database,
    data: str | bytes,
    channel: ChannelRef,
    by: Author,
    *,
    fmt: str = "json",
    narrator: Author | None = None,
    screen: Callable[[str], Awaitable[bool]] | None = None,
) -> Story:
    """Create a new active story in ``channel`` from an exported JSON or Markdown (``fmt="md"``)
    document, atomically: all of it or nothing. Markdown carries names only; the storyteller's
    turns take ``narrator``'s id and name. ``screen`` (the channel's content filters) sees every
    text first; one it refuses raises Blocked and nothing is stored."""
    doc = parse_export(data, fmt, narrator=narrator)
    if screen is not None:
        await _screen(doc, screen)
    stamp = now()
    async with db.write() as conn:
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
