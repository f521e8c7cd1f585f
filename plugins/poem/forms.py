"""Poem forms and the checker that says whether a poem keeps its form.

A form is a list of line rules (syllable range, rhyme letter, required first letter) derived from
the form and, for acrostics, the word to spell. :func:`check_poem` measures a poem against one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from plugins.poem.prosody import SyllableRange, last_word, line_syllables, rhymes, split_words

__all__ = ["FormCheck", "LineRule", "PoemForm", "check_poem", "layout", "parse_form"]


class PoemForm(enum.StrEnum):
    HAIKU = "haiku"
    LIMERICK = "limerick"
    ACROSTIC = "acrostic"
    COUPLET = "couplet"
    QUATRAIN = "quatrain"
    FREE = "free"

    @property
    def label(self) -> str:
        return "free verse" if self is PoemForm.FREE else self.value

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]


_SUMMARIES = {
    PoemForm.HAIKU: "three lines of 5, 7 and 5 syllables",
    PoemForm.LIMERICK: "five lines rhyming AABBA; lines 3 and 4 are short",
    PoemForm.ACROSTIC: "the first letters of the lines spell a word",
    PoemForm.COUPLET: "two rhyming lines of similar length",
    PoemForm.QUATRAIN: "four lines with a rhyme scheme (ABAB, AABB, ABCB or ABBA)",
    PoemForm.FREE: "three to eight unrhymed lines",
}

_ALIASES = {
    "haiku": PoemForm.HAIKU,
    "limerick": PoemForm.LIMERICK,
    "acrostic": PoemForm.ACROSTIC,
    "couplet": PoemForm.COUPLET,
    "quatrain": PoemForm.QUATRAIN,
    "free": PoemForm.FREE,
    "free-verse": PoemForm.FREE,
    "freeverse": PoemForm.FREE,
    "verse": PoemForm.FREE,
}

MAX_ACROSTIC_LETTERS = 12
FREE_VERSE_LINES = (3, 8)
QUATRAIN_SCHEMES = ("ABAB", "AABB", "ABCB", "ABBA")


def parse_form(text: str) -> PoemForm | None:
    """The form named by ``text`` ("haiku", "free-verse", ...), or None."""
    key = text.strip().lower()
    return _ALIASES.get(key) or _ALIASES.get(key.removesuffix("s"))


@dataclass(frozen=True, slots=True)
class LineRule:
    """What one line must satisfy. ``rhyme`` is a scheme letter (lines sharing it must rhyme)."""

    min_syllables: int
    max_syllables: int
    rhyme: str | None = None
    initial: str | None = None
    """For acrostics: the letter the line must start with (lower case)."""

    @property
    def target(self) -> int:
        """The syllable count to aim for when generating."""
        return (self.min_syllables + self.max_syllables + 1) // 2


def layout(
    form: PoemForm, *, word: str = "", lines: int = 4, scheme: str = ""
) -> tuple[LineRule, ...]:
    """The line rules of ``form``; ``word`` for acrostics, ``lines`` for free verse,
    ``scheme`` picks a quatrain's rhyme scheme (default ABAB)."""
    if form is PoemForm.HAIKU:
        return (LineRule(5, 5), LineRule(7, 7), LineRule(5, 5))
    if form is PoemForm.LIMERICK:
        long, short = (7, 11), (4, 7)
        return (
            LineRule(*long, rhyme="A"),
            LineRule(*long, rhyme="A"),
            LineRule(*short, rhyme="B"),
            LineRule(*short, rhyme="B"),
            LineRule(*long, rhyme="A"),
        )
    if form is PoemForm.ACROSTIC:
        letters = acrostic_letters(word)
        return tuple(LineRule(2, 12, initial=letter) for letter in letters)
    if form is PoemForm.COUPLET:
        return (LineRule(6, 12, rhyme="A"), LineRule(6, 12, rhyme="A"))
    if form is PoemForm.QUATRAIN:
        chosen = scheme.upper() if scheme.upper() in QUATRAIN_SCHEMES else "ABAB"
        rhymed = [c if chosen.count(c) > 1 else None for c in chosen]
        return tuple(LineRule(6, 12, rhyme=letter) for letter in rhymed)
    count = min(max(lines, FREE_VERSE_LINES[0]), FREE_VERSE_LINES[1])
    return tuple(LineRule(2, 14) for _ in range(count))


def acrostic_letters(word: str) -> tuple[str, ...]:
    """The letters an acrostic spells for ``word`` (letters only, at most 12)."""
    return tuple(c for c in word.lower() if "a" <= c <= "z")[:MAX_ACROSTIC_LETTERS]


@dataclass(frozen=True, slots=True)
class FormCheck:
    """The result of checking a poem: ``valid`` when every rule holds; ``problems`` say which not."""

    valid: bool
    problems: tuple[str, ...]
    syllables: tuple[SyllableRange, ...]
    scheme: str = ""
    """For quatrains: the rhyme scheme that matched (or the closest one)."""


_ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
)


def _ordinal(i: int) -> str:
    return _ORDINALS[i] if i < len(_ORDINALS) else f"#{i + 1}"


def _first_letter(line: str) -> str:
    match = re.search(r"[A-Za-z]", line)
    return match.group().lower() if match else ""


def check_lines(rules: Sequence[LineRule], lines: Sequence[str]) -> list[str]:
    """Problems of ``lines`` against ``rules`` (empty when they fit)."""
    problems: list[str] = []
    if len(lines) != len(rules):
        problems.append(f"needs {len(rules)} lines, has {len(lines)}")
        return problems
    for i, (rule, line) in enumerate(zip(rules, lines, strict=True)):
        if not split_words(line):
            problems.append(f"the {_ordinal(i)} line has no words")
            continue
        count = line_syllables(line)
        if not count.allows(rule.min_syllables, rule.max_syllables):
            want = (
                str(rule.min_syllables)
                if rule.min_syllables == rule.max_syllables
                else f"{rule.min_syllables}-{rule.max_syllables}"
            )
            have = str(count.low) if count.low == count.high else f"{count.low}-{count.high}"
            problems.append(f"the {_ordinal(i)} line has {have} syllables, not {want}")
        if rule.initial and _first_letter(line) != rule.initial:
            problems.append(f"the {_ordinal(i)} line should start with {rule.initial.upper()}")
    groups: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        if rule.rhyme:
            groups.setdefault(rule.rhyme, []).append(i)
    for letter, members in sorted(groups.items()):
        anchor = last_word(lines[members[0]])
        for j in members[1:]:
            other = last_word(lines[j])
            if not rhymes(anchor, other):
                problems.append(
                    f"the {_ordinal(j)} line should rhyme with the {_ordinal(members[0])} ({letter})"
                )
    norm = [" ".join(split_words(line)).lower() for line in lines]
    if len(set(norm)) < len(norm):
        problems.append("a line is repeated")
    return problems


def check_poem(form: PoemForm, lines: Sequence[str], *, word: str = "") -> FormCheck:
    """Check ``lines`` against ``form`` (``word``: what an acrostic must spell)."""
    lines = [line.strip() for line in lines if line.strip()]
    counts = tuple(line_syllables(line) for line in lines)
    if form is PoemForm.QUATRAIN:
        best: tuple[list[str], str] | None = None
        for scheme in QUATRAIN_SCHEMES:
            problems = check_lines(layout(form, scheme=scheme), lines)
            if best is None or len(problems) < len(best[0]):
                best = (problems, scheme)
            if not problems:
                break
        assert best is not None
        return FormCheck(not best[0], tuple(best[0]), counts, best[1])
    if form is PoemForm.FREE:
        low, high = FREE_VERSE_LINES
        if not low <= len(lines) <= high:
            return FormCheck(False, (f"needs {low}-{high} lines, has {len(lines)}",), counts)
        rules = layout(form, lines=len(lines))
    elif form is PoemForm.ACROSTIC:
        rules = layout(form, word=word)
        if not rules:
            return FormCheck(False, ("an acrostic needs a word to spell",), counts)
    else:
        rules = layout(form)
    problems = check_lines(rules, lines)
    if form is PoemForm.LIMERICK and not problems:
        long = (counts[0].middle + counts[1].middle + counts[4].middle) / 3
        short = (counts[2].middle + counts[3].middle) / 2
        if short >= long:
            problems.append("lines 3 and 4 should be shorter than the others")
    return FormCheck(not problems, tuple(problems), counts)
