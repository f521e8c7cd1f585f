"""Cleaning, scoring and ranking headline candidates, and the extractive fallback.

A candidate is rejected when it is empty, too short or too long, a copy of the source's first
sentence, or blocked by moderation; the rest are scored (length near 5-9 words, no quotes, written
in title case, on topic, no dangling "the", no repeated words) and shown in title case.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from plugins.kit.keywords import FUNCTION_WORDS, content_words, key_terms
from plugins.kit.textcraft import split_sentences
from plugins.kit.words import parts_of_speech

__all__ = [
    "Ranked",
    "clean_headline",
    "clean_subheadline",
    "extractive_headline",
    "is_clause",
    "rank_headlines",
    "score_headline",
    "score_subheadline",
    "title_case",
]

MIN_WORDS, MAX_WORDS = 3, 14
MIN_CHARS, MAX_CHARS = 12, 100
_SMALL_TEXT = """
a an and as at but by for from in into nor of on or over the to up via vs with
"""
_SMALL = frozenset(_SMALL_TEXT.split())
_LABEL = re.compile(
    r"^\s*(?:headline|title|sub-?headline|subtitle|story)\s*[:\-–—]\s*", re.IGNORECASE
)
_QUOTES = '"“”‘’«»'
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_WEAK_END_TEXT = """
a an the and or but of to in on at by for with from into as is was were are be that so
he she it they we i you his her my their our its your very
"""
_WEAK_END = frozenset(_WEAK_END_TEXT.split())

Allowed = Callable[[str], Awaitable[bool]]
"""An async check that a text passes moderation."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """A scored candidate: ``text`` as it will be shown; ``reasons`` explain the score."""

    text: str
    score: float
    reasons: tuple[str, ...]


def clean_headline(raw: str) -> str:
    """The first line of ``raw`` without labels, wrapping quotes, markup or a final full stop."""
    line = next((part for part in raw.replace("\r", "\n").split("\n") if part.strip()), "")
    line = _LABEL.sub("", line.strip())
    line = line.strip("*_#` ").strip()
    if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    line = " ".join(line.split())
    return line.rstrip(".,;: ").strip()


def clean_subheadline(raw: str) -> str:
    """A cleaned sub-headline: one line, no label or wrapping quotes, ends without a full stop."""
    return clean_headline(raw)


def title_case(text: str) -> str:
    """Headline-style capitals: every word capitalised except short joining words inside."""
    words = text.split()
    out: list[str] = []
    for i, word in enumerate(words):
        core = word.strip(_QUOTES + "([{")
        lead = word[: len(word) - len(word.lstrip(_QUOTES + "([{"))]
        if not core:
            out.append(word)
            continue
        lower = core.lower()
        inner = 0 < i < len(words) - 1 and not words[i - 1].endswith((":", "—", "-"))
        if core.isupper() and len(core) > 1 and core.isalpha():
            fixed = core  # acronyms stay
        elif inner and lower.strip(".,:;!?") in _SMALL:
            fixed = lower
        else:
            fixed = "-".join(part[:1].upper() + part[1:] for part in core.split("-"))
        out.append(lead + fixed + word[len(lead) + len(core) :])
    return " ".join(out)


def _norm(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace("’", "'"))]


def _is_copy(candidate: str, first_sentence: str, source: str) -> bool:
    cand = _norm(candidate)
    if not cand:
        return False
    first = _norm(first_sentence)
    if cand == first[: len(cand)] and len(cand) >= min(len(first), 4):
        return True
    a, b = set(cand), set(first)
    if a and b and len(a & b) / len(a | b) >= 0.8:
        return True
    # A long verbatim run of the source is a copy as well.
    joined = " ".join(_norm(source))
    return len(cand) >= 6 and f" {' '.join(cand)} " in f" {joined} "


def _title_cased_share(text: str) -> float:
    words = [w for w in _WORD.findall(text) if w.lower() not in _SMALL]
    if not words:
        return 0.0
    return sum(1 for w in words if w[0].isupper()) / len(words)


def score_headline(
    candidate: str, source: str, *, first_sentence: str | None = None, topic: Sequence[str] = ()
) -> Ranked | None:
    """Score one cleaned candidate against ``source``; None when it is unusable."""
    text = clean_headline(candidate)
    words = _norm(text)
    if not MIN_WORDS <= len(words) <= MAX_WORDS or not MIN_CHARS <= len(text) <= MAX_CHARS:
        return None
    if first_sentence is None:
        sentences = split_sentences(source)
        first_sentence = sentences[0] if sentences else source
    if _is_copy(text, first_sentence, source):
        return None
    if sum(c.isalpha() for c in text) < 0.6 * len(text.replace(" ", "")):
        return None
    reasons: list[str] = []
    score = 0.0
    score -= 0.35 * max(0, 5 - len(words)) + 0.35 * max(0, len(words) - 9)
    if any(q in text for q in _QUOTES):
        score -= 2.0
        reasons.append("quotes")
    share = _title_cased_share(text)
    score += 1.5 * share
    if share >= 0.8:
        reasons.append("title case")
    if words[-1] in _WEAK_END:
        score -= 2.0
        reasons.append("dangling end")
    if len(set(words)) < len(words) - 1:
        score -= 1.5
        reasons.append("repeats")
    terms = {_stem(t) for t in topic} or {_stem(t.text) for t in key_terms(source, limit=6)}
    hits = len(terms.intersection(_stem(w) for w in words))
    if terms and not hits:
        return None  # about something else: not a headline for this text
    score += min(3.0, 1.0 * hits)
    if hits:
        reasons.append(f"{hits} key terms")
    if re.search(r"[.!?]\s+\S", text):
        score -= 2.0
        reasons.append("several sentences")
    if not content_words(text):
        score -= 3.0
    if text.endswith("?") or text.endswith("!"):
        score -= 0.3
    if re.search(r"\b(?:once upon a time|the end)\b", text, re.IGNORECASE):
        score -= 2.0
        reasons.append("story phrase")
    if "..." in text or "…" in text:
        score -= 1.0
    return Ranked(title_case(_unquote(text)), score, tuple(reasons))


def _unquote(text: str) -> str:
    """``text`` without quotation marks (apostrophes inside words stay)."""
    text = re.sub(r"[\"“”«»]", "", text)
    text = re.sub(r"(?<![A-Za-z])[‘’']|[‘’'](?![A-Za-z])", "", text)
    return " ".join(text.split()).strip(" .,;:")


async def rank_headlines(candidates: Sequence[str], source: str, allowed: Allowed) -> list[Ranked]:
    """Usable candidates, best first (duplicates and moderation-blocked ones removed)."""
    sentences = split_sentences(source)
    first = sentences[0] if sentences else source
    topic = [t.text.lower() for t in key_terms(source, limit=6)]
    seen: set[str] = set()
    ranked: list[Ranked] = []
    for raw in candidates:
        scored = score_headline(raw, source, first_sentence=first, topic=topic)
        if scored is None or scored.text.lower() in seen:
            continue
        seen.add(scored.text.lower())
        if not await allowed(scored.text):
            continue
        ranked.append(scored)
    ranked.sort(key=lambda r: -r.score)
    return ranked


def extractive_headline(source: str) -> str:
    """A headline built from the source's key words when the model gives nothing usable:
    ``Lily, the Dragon and the Garden``; a generic line when the text has no key words."""
    terms = key_terms(source, limit=8)
    names = [t.text for t in terms if t.is_name][:1]
    # Only words the text uses as nouns ("the city"), so no "The Built and the City".
    things = [t.text for t in terms if t.noun and not t.is_name and t.text not in FUNCTION_WORDS]
    things = things[:2]
    parts = names + [f"the {thing}" for thing in things]
    if not parts:
        return "A Story Worth Telling"
    if len(parts) == 1:
        head = parts[0]
        return title_case(f"{head[:1].upper()}{head[1:]}: A Story Worth Telling")
    text = ", ".join(parts[:-1]) + " and " + parts[-1]
    return title_case(text[:1].upper() + text[1:])


def score_subheadline(candidate: str, headline: str, source: str) -> float | None:
    """Score a sub-headline (a short sentence that adds to the headline); None if unusable."""
    text = clean_subheadline(candidate)
    words = _norm(text)
    if not 4 <= len(words) <= 25 or len(text) > 180:
        return None
    if set(words) <= set(_norm(headline)):
        return None
    sentences = split_sentences(source)
    if sentences and _norm(text) == _norm(sentences[0]):
        return None
    score = -0.2 * abs(len(words) - 12)
    if any(q in text for q in _QUOTES):
        score -= 1.5
    if words[-1] in _WEAK_END:
        score -= 2.0
    terms = {_stem(t.text) for t in key_terms(source, limit=6)}
    hits = len(terms.intersection(_stem(w) for w in words))
    if terms and not hits:
        return None
    if re.search(r"[.!?]\s+\S", text):
        score -= 1.5
    return score + min(2.0, 0.7 * hits)


def _stem(word: str) -> str:
    """A crude stem for matching key words: lower case, no possessive or plural ending."""
    w = word.lower().removesuffix("'s").removesuffix("’s")
    if len(w) > 4 and w.endswith("es") and w[-3] in "sxz":
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def story_subjects(source: str, limit: int = 3) -> list[str]:
    """Who or what a story is about, as noun phrases to open a headline clause with: its
    names ("Spark") and the nouns it uses most ("the owl")."""
    return [
        t.text if t.is_name else f"the {t.text}"
        for t in key_terms(source, limit=8)
        if t.noun and t.text.lower() not in FUNCTION_WORDS
    ][:limit]


_OPEN_ENDS_TEXT = """
a an the and or but nor of to in on at by for with from into onto about above after against
along among around before behind below beneath beside between beyond during except inside
like near off out outside over past since than through toward towards under until upon within
without that which who whom whose what when where while if because though although so as
is was were are be been being am do does did have has had can could will would shall should
may might must not no very too more most much many some any every each his her its their our
my your this these those longer
"""
OPEN_ENDS = frozenset(_OPEN_ENDS_TEXT.split())
_CUT_OFF = frozenset(
    {"a", "an", "the", "his", "her", "my", "their", "our", "its", "your", "this", "these"}
    | {"those", "and", "or", "but", "so", "then"}
)
"""Words a headline clause cannot stop on: it would need more after them ("Knew About",
"Were No Longer", "Would Be Able to")."""


def is_clause(words: Sequence[str]) -> bool:
    """Whether ``words`` read as the rest of a sentence after its subject: a verb first (or an
    adverb and then a verb: "finally found"), and an ending that needs nothing more, by an
    English lexicon's parts of speech (:func:`plugins.kit.words.parts_of_speech`)."""
    if len(words) < 2:
        return False
    lower = [w.lower().strip(",;:'’") for w in words]
    first = parts_of_speech(lower[0])
    adverb_then_verb = "ADV" in first and bool(parts_of_speech(lower[1]) & {"VERB", "AUX"})
    if not first & {"VERB", "AUX"} and not adverb_then_verb:
        return False
    last = lower[-1]
    if last in OPEN_ENDS or last in _WEAK_END:
        return False
    return bool(parts_of_speech(last) - {"AUX"}) or words[-1][:1].isupper()


def headline_from_clause(subject: str, clause: str) -> str | None:
    """A headline from the model's completion of "This is the story of how <subject>":
    ``How the Owl Learned to Fly``; None when the completion is not a clause of its own
    (it glued letters to the subject, does not go on with a verb, or stops on "the", "about",
    "would" ...: :func:`is_clause`)."""
    if not clause[:1].isspace():
        return None
    words = clause.split()
    # "learned to fly so high in the" -> "learned to fly so high": the model was cut off inside
    # a phrase; a clause that just stops on "about" or "would" is not mended.
    trimmed = False
    while words and words[-1].lower().strip(",;:") in _CUT_OFF:
        words.pop()
        trimmed = True
    if trimmed and words and words[-1].lower() in OPEN_ENDS:
        words.pop()
    if len(words) < 2 or not all(re.fullmatch(r"[A-Za-z][A-Za-z'’-]*", w) for w in words):
        return None
    words = words[: MAX_WORDS - 4]
    if not is_clause(words):
        return None
    return title_case(" ".join(["How", *subject.split(), *words]))
