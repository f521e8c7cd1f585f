"""Real words, content words and relevance, by the CMU pronouncing dictionary.

A *made-up* word is an alphabetic word the dictionary does not know and that the prompt did not
use either (names and invented places the players wrote are fine). Content words are the words
left after stop words, reduced to a crude stem so "dragons" matches "dragon".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pronouncing

__all__ = [
    "STOP_WORDS",
    "content_words",
    "is_dictionary_word",
    "made_up_words",
    "shared_content",
    "words",
]

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
        "says",
        "say",
        "went",
        "go",
        "goes",
        "got",
        "get",
        "one",
        "two",
        "day",
        "time",
        "back",
        "like",
        "little",
        "big",
        "very",
        "saw",
        "see",
        "looked",
        "look",
        "came",
        "come",
        "made",
        "make",
        "thing",
        "things",
        "felt",
        "feel",
        "also",
        "even",
        "still",
        "always",
        "never",
        "ever",
        "much",
        "many",
        "way",
        "let",
        "lets",
        "knew",
        "know",
        "want",
        "wanted",
    ]
)


def words(text: str) -> list[str]:
    """The alphabetic words of ``text`` (inner apostrophes kept, curly ones straightened)."""
    return [w.replace("’", "'") for w in _WORD.findall(text)]


@functools.lru_cache(maxsize=1)
def _cmu() -> frozenset[str]:
    pronouncing.init_cmu()
    return frozenset(pronouncing.lookup)


@functools.lru_cache(maxsize=65536)
def is_dictionary_word(word: str) -> bool:
    """True when the CMU dictionary knows ``word`` (case-insensitive; ``'s`` and ``s'`` endings
    are taken off; a hyphenated word is known when each part is)."""
    w = word.lower().replace("’", "'").strip("'")
    if not w:
        return False
    if "-" in w:
        return all(is_dictionary_word(part) for part in w.split("-") if part)
    cmu = _cmu()
    if w in cmu:
        return True
    return any(w.endswith(suffix) and w[: -len(suffix)] in cmu for suffix in ("'s", "s'", "'"))


def made_up_words(text: str, known: Iterable[str] = ()) -> list[str]:
    """Words of ``text`` that are neither in the dictionary nor among ``known`` (e.g. the
    prompt's words), in order of appearance."""
    allowed = {w.lower() for w in known}
    return [
        w
        for w in words(text)
        if w.lower() not in allowed and not is_dictionary_word(w) and len(w) > 1
    ]


def _stem(word: str) -> str:
    w = word.lower().removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


def content_words(text: str) -> set[str]:
    """Stems of the words of ``text`` that carry meaning (no stop words, at least 3 letters)."""
    return {_stem(w) for w in words(text) if len(w) >= 3 and w.lower() not in STOP_WORDS}


def shared_content(text: str, context: str) -> set[str]:
    """Content stems ``text`` shares with ``context`` (the premise, notes, recent turns)."""
    return content_words(text) & content_words(context)
