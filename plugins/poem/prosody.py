"""Syllables and rhymes, by pronunciation.

Pronunciations come from the CMU pronouncing dictionary shipped offline by the ``pronouncing``
package. Words it does not know are counted by morphology (a known stem plus a suffix) and then by
spelling rules; their rhymes are judged by spelling. A word with several pronunciations ("fire":
one or two syllables) has a syllable *range*, and a line's count is a range too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pronouncing

__all__ = [
    "SyllableRange",
    "is_known",
    "line_syllables",
    "rhyme_keys",
    "rhymes",
    "split_words",
    "syllables",
]

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*|\d+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_SMALL_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# (suffix, syllables the suffix adds, what to add back to the stem to find it)
_SUFFIXES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("'s", 0, ("",)),
    ("ness", 1, ("", "y")),
    ("less", 1, ("",)),
    ("ful", 1, ("",)),
    ("ly", 1, ("", "le")),
    ("ing", 1, ("", "e")),
    ("ers", 1, ("", "e")),
    ("er", 1, ("", "e")),
    ("est", 1, ("", "e")),
    ("ish", 1, ("",)),
    ("ed", 0, ("", "e")),
    ("es", 0, ("", "e")),
    ("s", 0, ("",)),
)


@dataclass(frozen=True, slots=True)
class SyllableRange:
    """The fewest and most syllables a word or line can have."""

    low: int
    high: int

    def __add__(self, other: SyllableRange) -> SyllableRange:
        return SyllableRange(self.low + other.low, self.high + other.high)

    def allows(self, low: int, high: int | None = None) -> bool:
        """True when some reading falls in ``[low, high]`` (``high`` defaults to ``low``)."""
        top = low if high is None else high
        return self.low <= top and self.high >= low

    def distance(self, low: int, high: int | None = None) -> int:
        """How many syllables away from ``[low, high]`` the nearest reading is (0 = fits)."""
        top = low if high is None else high
        if self.allows(low, top):
            return 0
        return low - self.high if self.high < low else self.low - top

    @property
    def middle(self) -> float:
        return (self.low + self.high) / 2


ZERO = SyllableRange(0, 0)


def split_words(text: str) -> list[str]:
    """The words of ``text`` (letters with inner apostrophes, or digit runs)."""
    return _WORD_RE.findall(text.replace("’", "'").replace("‘", "'"))


@functools.lru_cache(maxsize=65536)
def _phones(word: str) -> tuple[str, ...]:
    return tuple(pronouncing.phones_for_word(word.lower()))


def is_known(word: str) -> bool:
    """True when the pronouncing dictionary knows ``word`` (numbers count as known)."""
    w = word.lower().replace("’", "'").strip("'")
    return w.isdigit() or bool(_phones(w))


def _count_phones(phones: str) -> int:
    return sum(1 for p in phones.split() if p[-1].isdigit())


def _number_words(digits: str) -> list[str]:
    value = int(digits)
    if value < 20:
        return [_SMALL_NUMBERS[value]]
    if value < 100:
        tens, ones = divmod(value, 10)
        return [_TENS[tens]] + ([_SMALL_NUMBERS[ones]] if ones else [])
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return [_SMALL_NUMBERS[hundreds], "hundred"] + (_number_words(str(rest)) if rest else [])
    # Long numbers: read digit by digit.
    return [_SMALL_NUMBERS[int(d)] for d in digits]


def _spelling_syllables(word: str) -> int:
    """Syllables by spelling rules (for words no dictionary knows)."""
    w = word.lower().replace("'", "")
    if not w:
        return 0
    if len(w) <= 3:
        return max(1, len(_VOWEL_GROUP.findall(w)))
    count = len(_VOWEL_GROUP.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ie", "ye")) and count > 1:
        count -= 1  # silent final e: "stone", "hope"
    elif w.endswith("le") and len(w) > 2 and w[-3] in "aeiouy" and count > 1:
        count -= 1  # "whale", "mile"
    # "hopes", "jumped" add no syllable; "wishes", "wanted" do (sibilant / t-d before).
    sounded = (w.endswith("es") and w[-3] in "sxzhc") or (w.endswith("ed") and w[-3] in "td")
    if (
        w.endswith(("es", "ed"))
        and len(w) > 3
        and w[-3] not in "aeiouy"
        and count > 1
        and not sounded
    ):
        count -= 1
    # Vowel pairs that are usually two syllables: "lion", "idea", "poet", "create".
    count += len(re.findall(r"i[aou]|eo|ua|uo|[^aeiou]ea(?!r|d|l|n|s|t|ch|m|k|p|v)", w))
    if re.search(r"[^aeiouy]ism$", w):
        count += 1
    return max(1, count)


@functools.lru_cache(maxsize=65536)
def syllables(word: str) -> SyllableRange:
    """Syllables of one word: every CMU pronunciation, else a known stem plus suffix, else spelling.

    >>> syllables("fire")
    SyllableRange(low=1, high=2)
    """
    w = word.lower().replace("’", "'").strip("'")
    if not w:
        return ZERO
    if w.isdigit():
        total = ZERO
        for part in _number_words(w):
            total = total + syllables(part)
        return total
    phones = _phones(w)
    if phones:
        counts = [_count_phones(p) for p in phones]
        return SyllableRange(min(counts), max(counts))
    if "'" in w:  # "dragon's", "sparkle'd": count without the apostrophe's tail when it adds none
        head, _, tail = w.partition("'")
        if tail in ("s", "d", "ll", "re", "ve", "m", "t"):
            return syllables(head)
    for suffix, extra, refills in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            stem = w[: -len(suffix)]
            for refill in refills:
                candidate = stem + refill
                if _phones(candidate):
                    base = syllables(candidate)
                    add = extra
                    if suffix == "ed" and candidate[-1] in "td":
                        add = 1
                    if suffix == "es" and (
                        candidate[-1] in "sxz" or candidate.endswith(("ch", "sh"))
                    ):
                        add = 1
                    return SyllableRange(base.low + add, base.high + add)
    count = _spelling_syllables(w)
    return SyllableRange(count, count)


def line_syllables(text: str) -> SyllableRange:
    """Syllables of a line of text (the sum of its words' ranges)."""
    total = ZERO
    for word in split_words(text):
        total = total + syllables(word)
    return total


def _rhyming_part(phones: str) -> str | None:
    """The last stressed vowel and everything after it; None for a weak (unstressed) form
    such as "the" /DH AH0/ or "can" /K AH0 N/, which rhymes with nothing."""
    parts = phones.split()
    stressed = [i for i, p in enumerate(parts) if p[-1] in "12"]
    if not stressed:
        return None
    return " ".join(re.sub(r"\d", "", p) for p in parts[stressed[-1] :])


@functools.lru_cache(maxsize=65536)
def rhyme_keys(word: str) -> frozenset[str]:
    """The rhyming parts (last stressed vowel and coda) of the stressed pronunciations of
    ``word``. Words missing from the dictionary have none: their rhymes would be guesses."""
    w = word.lower().replace("’", "'").strip("'")
    if not w:
        return frozenset()
    if w.isdigit():
        return rhyme_keys(_number_words(w)[-1])
    phones = _phones(w)
    if phones:
        return frozenset(k for k in map(_rhyming_part, phones) if k is not None)
    if w.endswith("'s"):
        return frozenset(k + " Z" for k in rhyme_keys(w[:-2]))
    return frozenset()


def rhymes(a: str, b: str) -> bool:
    """True when two different dictionary words rhyme strictly: the same stressed vowel and
    the same sounds after it ("cat"/"hat"; not "love"/"move", "good"/"did", "tree"/"the").

    A word does not rhyme with itself; a word the dictionary lacks rhymes with nothing.
    """
    wa, wb = a.lower().strip("'"), b.lower().strip("'")
    if not wa or not wb or wa == wb:
        return False
    return bool(rhyme_keys(wa) & rhyme_keys(wb))


def last_word(text: str) -> str:
    """The last word of a line ("" when there is none)."""
    words = split_words(text)
    return words[-1] if words else ""
