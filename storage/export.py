"""Story export (Markdown, JSON) and import of the JSON back (``storyloom export`` is
:mod:`storage.export_command`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert

from bot.errors import StateError, UsageError
from bot.records import Story, StoryStatus, TurnKind
from bot.types import Author, ChannelRef
from storage.engine import Database
from storage.models import lore_entries, stories, turns
from storage.repositories import LoreRepository, TurnRepository
from storage.repositories._base import now
from storage.repositories.stories import story_from_row

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


async def import_story(db: Database, data: str | bytes, channel: ChannelRef, by: Author) -> Story:
    """Create a new active story in ``channel`` from an exported JSON document, atomically."""
    try:
        doc = _ExportIn.model_validate_json(data)
    except ValidationError as exc:
        raise UsageError("That file is not a storyloom story export.") from exc
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
