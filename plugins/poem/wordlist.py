"""Common words for rhyme repair: frequent, simple words with a known pronunciation.

The list ships as ``data/common_words.txt`` (one word per line, most frequent first). It was
built from a children's-story corpus with :func:`build_word_list`::

    python -m plugins.poem.wordlist /path/to/stories.txt plugins/poem/data/common_words.txt
"""

from __future__ import annotations

import collections
import functools
import re
import sys
from importlib import resources
from pathlib import Path

import pronouncing

from plugins.poem.prosody import rhyme_keys, rhymes, syllables

__all__ = ["build_word_list", "common_words", "rhyming_words"]

_WORD = re.compile(r"(?<!['’])\b[a-z]+\b(?!['’])")
_ANY_CASE = re.compile(r"(?<!['’])\b[A-Za-z]+\b(?!['’])")
_BANNED = frozenset({"kill", "killed", "die", "died", "dead", "blood", "hate", "stupid", "dumb"})


def build_word_list(corpus: Path, out: Path, *, size: int = 8000, min_count: int = 3) -> int:
    """Write the ``size`` most frequent corpus words that the CMU dictionary knows."""
    counts: collections.Counter[str] = collections.Counter()
    lower: collections.Counter[str] = collections.Counter()
    with corpus.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            counts.update(w.lower() for w in _ANY_CASE.findall(line))
            lower.update(_WORD.findall(line))
    # Names ("Mia", "Timmy") are written with a capital: keep words mostly seen in lower case.
    words = [
        w
        for w, n in counts.most_common()
        if ((n >= min_count and len(w) > 1) or w in ("a", "i")) and lower[w] * 2 >= n
    ]
    kept = [w for w in words if pronouncing.phones_for_word(w) and w not in _BANNED][:size]
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


@functools.cache
def common_words() -> tuple[str, ...]:
    """The shipped common words, most frequent first."""
    text = resources.files("plugins.poem").joinpath("data/common_words.txt").read_text("utf-8")
    return tuple(w for w in text.split() if w)


@functools.cache
def _by_rhyme() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = collections.defaultdict(list)
    for word in common_words():
        for key in rhyme_keys(word):
            index[key].append(word)
    return {k: tuple(v) for k, v in index.items()}


def rhyming_words(word: str, *, syllable_count: int | None = None, limit: int = 50) -> list[str]:
    """Common words that rhyme with ``word``, most frequent first, optionally of one length."""
    seen: set[str] = set()
    found: list[str] = []
    index = _by_rhyme()
    for key in rhyme_keys(word):
        for candidate in index.get(key, ()):
            if candidate in seen or not rhymes(word, candidate):
                continue
            seen.add(candidate)
            if syllable_count is not None and not syllables(candidate).allows(syllable_count):
                continue
            found.append(candidate)
    rank = {w: i for i, w in enumerate(common_words())}
    found.sort(key=lambda w: rank.get(w, len(rank)))
    return found[:limit]


if __name__ == "__main__":  # pragma: no cover - build tool
    n = build_word_list(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {n} words")
