"""How the story plugin words things: names, durations, turns, recaps, message splitting."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.plugin import Call
from bot.records import Turn, TurnKind
from bot.types import Button, ButtonStyle
from plugins.kit import textcraft

USAGE_NO_STORY = "There's no story in this channel yet. Start one with `/story start <premise>`."
MESSAGE_ROOM = textcraft.DISCORD_LIMIT - 150
"""Room for a continuation in one message (leaves space for a header line)."""
NOTHING_WRITTEN = (
    "I couldn't come up with anything useful this time. "
    "Try `/story continue` again, or add a turn to steer me."
)


def slug(text: str) -> str:
    """A file-name-safe short form of a title."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value[:40] or "story"


def names(people: list[str]) -> str:
    """``ann``, ``ann and bo``, ``ann, bo and cy``."""
    if not people:
        return "nobody"
    if len(people) == 1:
        return people[0]
    return ", ".join(people[:-1]) + " and " + people[-1]


def when_all_voted(voters: int) -> str:
    if voters >= 3:
        return f" or when all {voters} players have voted."
    return " or when both players have voted." if voters == 2 else "."


def minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))}s"
    return f"{round(seconds / 60)} min"


def render_turn(turn: Turn, limit: int = 400) -> str:
    """A turn as shown in the channel: players' turns with their name."""
    text = textcraft.fit_message(turn.text, limit)
    if turn.kind is TurnKind.PLAYER:
        return f"**{turn.author_name}:** {text}"
    return text


def turn_buttons(
    button: Callable[..., Button], turn: Turn, alternatives: int = 0, selected: int = 0
) -> tuple[Button, ...]:
    """Continue, retry and undo under the storyteller's turn; ◀ ▶ between its versions."""
    buttons = [
        button("continue", "Continue", style=ButtonStyle.PRIMARY),
        button("retry", "Retry", str(turn.id)),
        button("undo", "Undo", str(turn.id), style=ButtonStyle.DANGER),
    ]
    if alternatives > 1:
        prev_index = (selected - 1) % alternatives
        next_index = (selected + 1) % alternatives
        buttons.insert(1, button("swipe", "◀", f"{turn.id}:{prev_index + 1}"))
        buttons.insert(2, button("swipe", "▶", f"{turn.id}:{next_index + 1}"))
    return tuple(buttons)


async def say(call: Call, lines: list[str]) -> None:
    """Post the non-empty ``lines``, split into messages that fit."""
    text = "\n".join(line for line in lines if line)
    for part in textcraft.split_message(text) if text.strip() else []:
        await call.reply(part)


def as_int(text: str) -> int | None:
    """A button argument as a number (None when it is not one)."""
    try:
        return int(text)
    except ValueError:
        return None


# fmt: off
_STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "had", "has", "have",
        "he", "her", "him", "his", "i", "in", "is", "it", "its", "of", "on", "or", "she", "so",
        "that", "the", "their", "them", "then", "there", "they", "this", "to", "was", "were", "what",
        "when", "who", "will", "with", "you", "your", "one", "day", "very", "little", "big", "said",
    )
)
# fmt: on


def usable_recap(summary: str, story_texts: list[str]) -> bool:
    """A summary is worth showing when it is a few finished sentences about this story."""
    words = re.findall(r"[a-z']+", summary.lower())
    if len(words) < 6 or summary.endswith(textcraft.ELLIPSIS) or textcraft.is_degenerate(summary):
        return False
    story_words = {
        w
        for t in story_texts
        for w in re.findall(r"[a-z']+", t.lower())
        if len(w) > 3 and w not in _STOPWORDS
    }
    return len(story_words.intersection(words)) >= 2
