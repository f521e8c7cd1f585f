"""Splitting long texts into Discord-sized messages (2,000 characters) at sensible places."""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000
_FENCE = re.compile(r"```([A-Za-z0-9_+-]{0,15})")
_SENTENCE_END = re.compile(r"[.!?…][\"')\]*_]*\s")
_CLOSE = "\n```"


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters.

    Cuts prefer paragraph breaks, then line breaks, then sentence ends, then spaces; a word is
    cut only when nothing else fits. A code block that spans a cut is closed at the end of one
    part and reopened (with its language) at the start of the next, so every part renders.
    """
    if limit < 64:
        raise ValueError("limit must be at least 64 characters")
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    reopen = ""
    rest = text
    while rest:
        budget = limit - len(reopen)
        if len(rest) <= budget:
            parts.append(reopen + rest)
            break
        cut = _best_cut(rest, budget - len(_CLOSE))
        part = reopen + rest[:cut].rstrip()
        rest = rest[cut:].lstrip("\n")
        language = _open_fence(part)
        if language is None:
            rest = rest.lstrip(" ")
            reopen = ""
        else:
            part += _CLOSE
            reopen = f"```{language}\n"
        if part.strip():
            parts.append(part)
    return parts


def _best_cut(text: str, budget: int) -> int:
    """Index to cut ``text`` at so that ``text[:index]`` fits ``budget``."""
    window = text[: budget + 1]
    floor = budget // 3
    for marker in ("\n\n", "\n"):
        index = window.rfind(marker, floor, budget)
        if index > 0:
            return index
    ends = [m.end() - 1 for m in _SENTENCE_END.finditer(window) if floor <= m.end() - 1 <= budget]
    if ends:
        return ends[-1]
    index = window.rfind(" ", floor, budget)
    if index > 0:
        return index
    return budget


def _open_fence(text: str) -> str | None:
    """The language of a code block left open at the end of ``text`` ("" if none given), or None."""
    language: str | None = None
    for match in _FENCE.finditer(text):
        language = match.group(1) if language is None else None
    return language
