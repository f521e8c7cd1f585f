"""Best-of-N: score candidate texts for one prompt and order them best first.

The generation service batches, so N candidates cost little more than one. Each candidate is
scored on what makes a reply readable for a small model's output:

- **real words**: every made-up word (not in the dictionary, not in the prompt) costs a lot;
- **relevance**: content words shared with the premise, notes and recent turns;
- **an ending**: text that stops mid-sentence ("and then she") or with an open quotation;
- **no loops**: mostly repeated words;
- **likelihood**: the model's own mean log-probability, when the backend reports it.

The weights were set by hand and checked on the quality benchmark's development premises
(``python -m bench quality --split dev``: doubling the relevance weight changed nothing there);
the figures reported come from its separate test premises.

Example::

    ranked = rank([Candidate("The dragon slept.", -1.9), Candidate("Zorblat flew", -2.8)],
                  context="A sleepy dragon guards a cave.")
    best = ranked[0].candidate.text
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from plugins.kit.textcraft import is_degenerate
from plugins.kit.words import content_words, made_up_words, words

__all__ = ["Candidate", "Ranked", "Weights", "has_dangling_end", "rank", "score"]

SENTENCE_END = (".", "!", "?", "…", '."', '!"', '?"', ".”", "!”", "?”", ".'", "!'", "?'")
DANGLING_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "with",
        "for",
        "from",
        "by",
        "as",
        "that",
        "which",
        "who",
        "whose",
        "his",
        "her",
        "their",
        "my",
        "your",
        "our",
        "its",
        "into",
        "onto",
        "than",
        "then",
        "so",
        "if",
        "when",
        "while",
        "because",
        "very",
    ]
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generated text and the model's mean log-probability of it (None: unknown)."""

    text: str
    mean_logprob: float | None = None


@dataclass(frozen=True, slots=True)
class Weights:
    made_up_word: float = -1.5
    relevance_per_word: float = 0.4
    relevance_cap: int = 4
    dangling: float = -1.0
    open_quote: float = -0.5
    degenerate: float = -3.0
    too_short: float = -1.0
    logprob: float = 0.6
    min_words: int = 6


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its score and what went into it."""

    candidate: Candidate
    score: float
    made_up: tuple[str, ...]
    relevant: int
    dangling: bool
    degenerate: bool


def has_dangling_end(text: str) -> bool:
    """True when ``text`` stops mid-sentence: no closing punctuation, or a last word such as
    "the", "and", "with" that needs something after it."""
    stripped = text.rstrip()
    if not stripped:
        return True
    ws = words(stripped)
    if ws and ws[-1].lower() in DANGLING_WORDS:
        return True
    return not stripped.endswith(SENTENCE_END)


def _open_quote(text: str) -> bool:
    return (text.count('"') + text.count("“") + text.count("”")) % 2 == 1


def score(
    candidate: Candidate,
    *,
    context: str,
    known: Iterable[str] = (),
    weights: Weights = Weights(),
) -> Ranked:
    """Score one candidate against ``context`` (premise, notes, recent turns); ``known`` are
    words that are not made up even if the dictionary lacks them (the prompt's words)."""
    text = candidate.text
    ws = words(text)
    made_up = tuple(made_up_words(text, known))
    relevant = len(content_words(text) & content_words(context))
    dangling = has_dangling_end(text)
    degenerate = is_degenerate(text)
    total = weights.made_up_word * len(made_up)
    total += weights.relevance_per_word * min(relevant, weights.relevance_cap)
    total += weights.dangling * dangling + weights.open_quote * _open_quote(text)
    total += weights.degenerate * degenerate + weights.too_short * (len(ws) < weights.min_words)
    if candidate.mean_logprob is not None:
        total += weights.logprob * candidate.mean_logprob
    return Ranked(candidate, total, made_up, relevant, dangling, degenerate)


def rank(
    candidates: Iterable[Candidate],
    *,
    context: str,
    known: Iterable[str] = (),
    weights: Weights = Weights(),
) -> list[Ranked]:
    """Candidates best first (empty texts dropped; ties keep the given order)."""
    known = tuple(known)
    scored = [
        score(c, context=context, known=known, weights=weights)
        for c in candidates
        if c.text.strip()
    ]
    return sorted(scored, key=lambda r: -r.score)
