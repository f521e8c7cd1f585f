"""``storyloom export``: find a story in the database and write it as Markdown or JSON."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.errors import NotFound, StorageError, UsageError
from bot.records import Story
from storage.settings import StorageSettings
from storage.store import Store, open_store


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


async def export_command(
    settings: StorageSettings,
    *,
    story_id: int | None = None,
    channel: str | None = None,
    fmt: str = "md",
    out: Path | None = None,
) -> str:
    """``storyloom export``: open the database, find the story (by id, or a channel's open,
    else newest, one) and write it as ``fmt`` to ``out``, or to stdout when no file is given.
    Returns the text."""
    if fmt not in ("md", "json"):
        raise UsageError(f"Unknown export format {fmt!r}; use md or json.")
    store = await open_store(settings)
    try:
        story = await find_story(store, story_id=story_id, channel=channel)
        text = await store.export_story(story, fmt)
    finally:
        await store.close()
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return text
    try:
        await asyncio.to_thread(out.write_text, text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc}") from exc
    return text
