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


def _rhyming_part(phones: str) -> str:
    parts = phones.split()
    vowels = [i for i, p in enumerate(parts) if p[-1].isdigit()]
    if not vowels:
        return " ".join(parts)
    stressed = [i for i in vowels if parts[i][-1] in "12"]
    start = stressed[-1] if stressed else vowels[-1]
    return " ".join(re.sub(r"\d", "", p) for p in parts[start:])


def _spelling_rhyme_key(word: str) -> str:
    w = word.lower().replace("'", "")
    if w.endswith("e") and len(w) > 2 and w[-2] not in "aeiouy":
        core = w[:-1]  # "stone" -> stone's key "one" ... keep the silent e out of the search
        match = list(_VOWEL_GROUP.finditer(core))
        return "~" + (w[match[-1].start() :] if match else w)
    match = list(_VOWEL_GROUP.finditer(w))
    return "~" + (w[match[-1].start() :] if match else w)


@functools.lru_cache(maxsize=65536)
def rhyme_keys(word: str) -> frozenset[str]:
    """The rhyming parts of every pronunciation of ``word`` (from its last stressed vowel).

    Words missing from the dictionary get one spelling-based key (prefixed with ``~``).
    """
    w = word.lower().replace("’", "'").strip("'")
    if not w:
        return frozenset()
    if w.isdigit():
        return rhyme_keys(_number_words(w)[-1])
    phones = _phones(w)
    if phones:
        return frozenset(_rhyming_part(p) for p in phones)
    if w.endswith("'s"):
        return frozenset(k + (" Z" if not k.startswith("~") else "s") for k in rhyme_keys(w[:-2]))
    return frozenset({_spelling_rhyme_key(w)})


def rhymes(a: str, b: str) -> bool:
    """True when two different words rhyme by pronunciation ("cat"/"hat", not "love"/"move").

    A word does not rhyme with itself; a known and an unknown word are compared by spelling.
    """
    wa, wb = a.lower().strip("'"), b.lower().strip("'")
    if not wa or not wb or wa == wb:
        return False
    ka, kb = rhyme_keys(wa), rhyme_keys(wb)
    if ka & kb:
        return True
    a_spelled = all(k.startswith("~") for k in ka)
    b_spelled = all(k.startswith("~") for k in kb)
    if a_spelled != b_spelled:
        return _spelling_rhyme_key(wa) == _spelling_rhyme_key(wb)
    return False


def last_word(text: str) -> str:
    """The last word of a line ("" when there is none)."""
    words = split_words(text)
    return words[-1] if words else ""
