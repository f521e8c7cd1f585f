"""Real words, content words, parts of speech and relevance, by the CMU pronouncing dictionary
and lemminflect's English word lists.

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
    "SHORT_WORDS",
    "STOP_WORDS",
    "content_words",
    "is_dictionary_word",
    "load_lexicons",
    "made_up_words",
    "parts_of_speech",
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
def parts_of_speech(word: str) -> frozenset[str]:
    """The parts of speech an English lexicon gives ``word`` (``NOUN``, ``VERB``, ``ADJ``,
    ``ADV``, ...; by lemminflect's word lists); empty for words it does not know, names
    mostly."""
    import lemminflect

    return frozenset(lemminflect.getAllLemmas(word.lower().replace("’", "'")))


def load_lexicons() -> None:
    """Load the dictionary and the part-of-speech lists now (a second or two, once per
    process). Plugins call it from ``setup`` on a worker thread, so the first message that
    needs them does not stall the event loop."""
    _cmu()
    parts_of_speech("story")


SHORT_WORDS = frozenset(
    [
        "ok",
        "okay",
        "hi",
        "oh",
        "hey",
        "bye",
        "ow",
        "ouch",
        "yay",
        "yum",
        "meow",
        "woof",
        "yuck",
        "uh",
        "yeah",
        "ha",
        "ah",
        "aha",
        "wow",
        "oops",
        "huh",
        "hmm",
        "mr",
        "mrs",
        "ms",
        "dr",
        "tv",
        "onto",
        "one",
        "two",
        "four",
        "five",
        "six",
        "nine",
        "ten",
        "mom",
        "dad",
        "mum",
        "zoo",
    ]
)
"""Short words the part-of-speech lists lack (interjections, numbers, titles)."""


def _common(word: str) -> bool:
    """A dictionary word that is more than a stray abbreviation: long, a function word, or one
    the part-of-speech lists know (the CMU dictionary also holds "har", "st", "wa")."""
    return (
        len(word) >= 5
        or "'" in word
        or word in STOP_WORDS
        or word in SHORT_WORDS
        or bool(parts_of_speech(word))
    )


@functools.lru_cache(maxsize=65536)
def is_dictionary_word(word: str, *, name: bool = False) -> bool:
    """True when the CMU dictionary knows ``word`` (case-insensitive; ``'s`` and ``s'`` endings
    are taken off; a hyphenated word is known when each part is) and, for a short word, it is
    a word in use rather than an abbreviation, unless it is a ``name`` (a capital in the
    middle of a sentence: "Ben", "Tim")."""
    w = word.lower().replace("’", "'").strip("'")
    if not w:
        return False
    if "-" in w:
        return all(is_dictionary_word(part, name=name) for part in w.split("-") if part)
    cmu = _cmu()
    for suffix in ("", "'s", "s'", "'"):
        base = w[: -len(suffix)] if suffix else w
        if (not suffix or w.endswith(suffix)) and base in cmu:
            return name or _common(base)
    return False


_SENTENCE_START = re.compile(r"(?:^|[.!?…]['\"”’)]*\s+|\n\s*)['\"“‘(]*$")
_TITLES = ("Mr. ", "Mrs. ", "Ms. ", "Dr. ", "St. ")


def made_up_words(text: str, known: Iterable[str] = ()) -> list[str]:
    """Words of ``text`` that are neither in the dictionary nor among ``known`` (e.g. the
    prompt's words), in order of appearance. A capitalised word inside a sentence, or one that
    opens a sentence as its subject ("Ben said"), is a name: the dictionary's names are real
    words, invented ones ("Larkkoni") are not."""
    allowed = {w.lower() for w in known}
    matches = list(_WORD.finditer(text))
    names: set[str] = set()
    for i, match in enumerate(matches):
        w = match.group()
        if not w[0].isupper():
            continue
        before = text[: match.start()]
        opens = bool(_SENTENCE_START.search(before[-8:])) and not before.endswith(_TITLES)
        after = matches[i + 1].group().lower() if i + 1 < len(matches) else ""
        if not opens or parts_of_speech(after) & {"VERB", "AUX"}:
            names.add(w.lower())
    found = []
    for match in matches:
        w = match.group().replace("’", "'")
        low = w.lower()
        if len(w) <= 1 or low in allowed:
            continue
        if not is_dictionary_word(w, name=low in names):
            found.append(w)
    return found


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
