"""Keyword rules with Discord AutoMod wildcard semantics, matched on normalised text.

``word`` matches the whole word, ``word*`` words starting with it, ``*word`` words ending with
it, ``*word*`` anywhere. A space inside an entry matches any run of whitespace. Beyond AutoMod,
repeated letters are accepted ("fuuuck" matches ``fuck``), so stretched words do not slip through,
and ``i``/``l`` match each other (they share one glyph in many fonts).
Allow-list entries use the same syntax and exempt every word they match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from bot.errors import ConfigError
from bot.moderation.normalize import NormalizedText, fold

WORDLIST_PATH = Path(__file__).parent / "data" / "wordlist.json"
_WORD_CHAR = r"[^\W_]"  # a letter or digit in any script
_MAX_ENTRY_LENGTH = 60
# l, I, 1 and | are the same glyph in many fonts (Unicode's skeleton maps them together).
_LETTER_CLASS = {"i": "[il]", "l": "[il]"}


def _entry_pattern(entry: str) -> tuple[bool, str]:
    """(needs a word start, regex source) for one wildcard entry (folded, lower-case)."""
    prefix = entry.startswith("*")
    suffix = entry.endswith("*")
    core = entry.strip("*").strip()
    if not core or "*" in core:
        raise ConfigError(f"invalid keyword entry {entry!r}: '*' is allowed only at the ends")
    if len(core) > _MAX_ENTRY_LENGTH:
        raise ConfigError(f"keyword entry is longer than {_MAX_ENTRY_LENGTH} characters")
    parts: list[str] = []
    for run in re.finditer(r"(.)\1*", core):
        char, count = run.group(1), len(run.group())
        if char.isspace():
            parts.append(r"\s+")
        elif char.isalpha():
            parts.append(f"{_LETTER_CLASS.get(char, re.escape(char))}{{{count},}}")
        else:
            parts.append(re.escape(run.group()))
    right = "" if suffix else f"(?!{_WORD_CHAR})"
    return not prefix, "".join(parts) + right


def normalize_entry(entry: str) -> str:
    return fold(entry.strip())


@dataclass(frozen=True, slots=True)
class KeywordHit:
    category: str
    entry: str
    start: int
    end: int
    view: str


class KeywordSet:
    """A compiled set of wildcard entries, each tagged with a category."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._entries: list[tuple[str, str, re.Pattern[str]]] = []
        bounded: list[str] = []
        anywhere: list[str] = []
        for category, raw in entries:
            entry = normalize_entry(raw)
            if not entry:
                continue
            word_start, source = _entry_pattern(entry)
            (bounded if word_start else anywhere).append(source)
            self._entries.append((category, raw, re.compile(source)))
        # One word-start check for all whole-word/prefix entries and no capturing groups keep
        # matching fast (about 10x faster than per-entry look-behinds or named groups); which
        # entry matched is worked out only for the rare hit.
        sources = ([f"(?<!{_WORD_CHAR})(?:{'|'.join(bounded)})"] if bounded else []) + anywhere
        self._pattern = re.compile("|".join(sources)) if sources else None

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> tuple[tuple[str, str], ...]:
        """Every entry as written, with its category: ``(category, entry)``."""
        return tuple((category, raw) for category, raw, _ in self._entries)

    def find(self, text: str, view: str = "") -> list[KeywordHit]:
        """All non-overlapping hits in ``text``."""
        if self._pattern is None:
            return []
        hits = []
        for match in self._pattern.finditer(text):
            start, end = match.span()
            category, entry = next(
                ((c, e) for c, e, p in self._entries if p.fullmatch(text, start, end)),
                ("", ""),
            )
            hits.append(KeywordHit(category, entry, start, end, view))
        return hits

    def find_normalized(self, text: NormalizedText) -> list[KeywordHit]:
        """Hits in the de-leeted view and in the joined views where they differ."""
        hits: list[KeywordHit] = []
        for name, view in text.views:
            hits += self.find(view, name)
        return hits


class AllowList:
    """Words exempt from keyword rules: a hit inside a word an allow entry matches is ignored."""

    def __init__(self, entries: Sequence[str]) -> None:
        self._set = KeywordSet(("allow", e) for e in entries)

    def __bool__(self) -> bool:
        return len(self._set) > 0

    def exempts(self, hit: KeywordHit, text: str) -> bool:
        """True when the word(s) around ``hit`` in ``text`` (the view it was found in) are allowed."""
        start, end = _word_span(text, hit.start, hit.end)
        for allowed in self._set.find(text):
            allowed_start, allowed_end = _word_span(text, allowed.start, allowed.end)
            if allowed_start <= start and allowed_end >= end:
                return True
        return False


def _word_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to the whole word(s) it touches."""
    while start > 0 and (text[start - 1].isalnum()):
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


@cache
def builtin_keywords() -> KeywordSet:
    """The shipped list of slurs, strong profanity and sexual terms."""
    try:
        data = json.loads(WORDLIST_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read built-in word list {WORDLIST_PATH}: {exc}") from exc
    return KeywordSet(
        (category, entry)
        for category, entries in data.items()
        if not category.startswith("_")
        for entry in entries
    )


@lru_cache(maxsize=512)
def custom_keywords(entries: tuple[str, ...]) -> KeywordSet:
    """A guild's custom words, compiled once per distinct tuple."""
    return KeywordSet(("custom", e) for e in entries)


@lru_cache(maxsize=512)
def allow_list(entries: tuple[str, ...]) -> AllowList:
    return AllowList(entries)
