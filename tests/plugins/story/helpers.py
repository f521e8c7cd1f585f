"""Small assertions shared by the story game tests."""

from __future__ import annotations

import re
from typing import Any

from bot.records import Story, Turn, TurnKind
from bot.types import ChannelRef
from plugins.kit.textcraft import DISCORD_LIMIT

CONSOLE = "console"


def channel(name: str = "tale") -> ChannelRef:
    return ChannelRef(channel_id=name, guild_id=CONSOLE, name=name)


def by_reply(records: list[dict[str, Any]], line_number: int) -> list[dict[str, Any]]:
    """Records answering the script's ``line_number``-th line (1-based)."""
    return [r for r in records if r["reply_to"] == f"in-{line_number}"]


def texts(records: list[dict[str, Any]]) -> str:
    return "\n".join(r["text"] for r in records)


def assert_clean_bot_text(
    text: str, player_names: tuple[str, ...] = ("Alice", "Bob", "Carol")
) -> None:
    """The output-hygiene promises for a storyteller turn."""
    assert text.strip(), "empty continuation"
    assert len(text) <= DISCORD_LIMIT
    assert re.search(r"([.!?…]|\.\.\.)[\"'”’)\]]*$", text), f"not at a sentence end: {text!r}"
    for name in player_names:
        assert not re.search(rf"(^|\n)\s*{name}\s*:", text), f"speaks for {name}: {text!r}"


async def active_story(store: Any, name: str = "tale") -> Story:
    story = await store.stories.get_active(channel(name))
    assert story is not None
    return story


async def visible_turns(store: Any, story_id: int) -> list[Turn]:
    return list(await store.turns.all(story_id))


def kinds(turns: list[Turn]) -> list[str]:
    return [t.author_name if t.kind is TurnKind.PLAYER else "bot" for t in turns]
