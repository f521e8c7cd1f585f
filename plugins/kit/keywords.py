"""Key terms of a text, by a cheap heuristic (no tagger): frequent content words, names first;
whether a term is a noun comes from an English lexicon's parts of speech
(:func:`plugins.kit.words.parts_of_speech`) and the word's neighbours.

Used for extractive headlines, for poem topics taken from a story, and to judge whether a
generated headline or poem line is on topic.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass

from plugins.kit.words import parts_of_speech

__all__ = ["FUNCTION_WORDS", "KeyTerm", "content_words", "key_terms"]

_FUNCTION_WORDS_TEXT = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't could couldn't did didn't do does doesn't
doing don't down during each even ever every few for from further had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's i i'd
i'll i'm i've if in into is isn't it it's its itself just let's like me more most much mustn't
my myself no nor not now of off on once one only or other ought our ours ourselves out over
own same shan't she she'd she'll she's should shouldn't so some such than that that's the
their theirs them themselves then there there's these they they'd they'll they're they've this
those through to too under until up upon very was wasn't we we'd we'll we're we've were
weren't what what's when when's where where's which while who who's whom why why's will with
won't would wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves
said says say went go goes going got get gets saw see sees look looked looks came come comes
made make makes did took take takes wanted want wants felt feel feels knew know knows thought
think thinks asked ask day time way things thing lot lots something anything nothing
everything someone anyone everyone really very so soon still back again away there many big
little happy sad good bad new old small found gave give ran told began became tried decided
loved liked smiled laughed heard put sat stood left brought fell ate let now today far near
never always
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
"""Words that carry little topic: pronouns, articles, auxiliaries, very common story verbs."""

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
_DETERMINERS = frozenset(
    ("the", "a", "an", "her", "his", "my", "your", "their", "our", "its", "this", "that")
)
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)[\"'“‘(]*$")
_BEFORE_A_VERB = frozenset(
    {"to", "will", "would", "can", "could", "should", "must", "might", "may", "shall", "not"}
    | {"i", "you", "we", "they", "he", "she", "don't", "didn't", "won't", "can't", "let's"}
)


@dataclass(frozen=True, slots=True)
class KeyTerm:
    """A salient word: ``text`` as written (names keep their capital), ``weight`` its score."""

    text: str
    weight: float
    is_name: bool
    noun: bool = False
    """A name, or a word the lexicon knows as a noun that is used as one here ("the map", not
    "to map"; "the robot wakes", where "wakes" is a verb): usable as a noun."""


def _is_noun(word: str, *, determined: int, before_verb: int, modifier: int, uses: int) -> bool:
    """Whether ``word`` (lower case) is used as a noun, by the lexicon and its neighbours:
    ``determined`` uses follow "the", "his"...; ``before_verb`` follow "to", "will"...;
    ``modifier`` uses come right before another content word."""
    pos = parts_of_speech(word)
    if "NOUN" not in pos:
        return False
    if determined:
        return True
    if "ADJ" in pos and modifier * 2 > uses:
        return False  # "magic" in "magic staff"
    if "ADV" in pos:
        return False  # "inside", "behind"
    if "VERB" not in pos:
        return True
    if before_verb * 2 > uses:
        return False  # "to climb", "they find"
    # Also a verb, with no determiner: "treasure" is a noun; "walks", "hunted", "singing" read
    # as verbs ("the robot wakes up").
    return not word.endswith(("s", "ed", "ing"))


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that are not function words."""
    return [
        w.lower()
        for w in _WORD.findall(text.replace("’", "'"))
        if w.lower() not in FUNCTION_WORDS and len(w) > 1
    ]


def key_terms(text: str, limit: int = 5) -> list[KeyTerm]:
    """The ``limit`` most salient words of ``text``: frequency, with a bonus for names
    (capitalised away from a sentence start) and for words seen early."""
    text = text.replace("’", "'")
    counts: collections.Counter[str] = collections.Counter()
    names: collections.Counter[str] = collections.Counter()
    lowers: collections.Counter[str] = collections.Counter()
    first_seen: dict[str, int] = {}
    spelled: dict[str, str] = {}
    modifier: collections.Counter[str] = collections.Counter()
    determined: collections.Counter[str] = collections.Counter()
    before_verb: collections.Counter[str] = collections.Counter()
    matches = list(_WORD.finditer(text))
    for i, match in enumerate(matches):
        word = match.group().strip("'-")
        low = word.lower()
        if low in FUNCTION_WORDS or len(low) < 3:
            continue
        counts[low] += 1
        after = matches[i + 1] if i + 1 < len(matches) else None
        if (
            after is not None
            and not text[match.end() : after.start()].strip()
            and after.group().lower() not in FUNCTION_WORDS
        ):
            modifier[low] += 1  # "green" in "green dragon": probably describes the next word
        before = matches[i - 1].group().lower() if i > 0 else ""
        if before in _DETERMINERS and not text[matches[i - 1].end() : match.start()].strip():
            determined[low] += 1
        elif before in _BEFORE_A_VERB:
            before_verb[low] += 1
        first_seen.setdefault(low, match.start())
        at_start = bool(_SENTENCE_START.search(text[: match.start()]))
        if word[0].isupper() and not at_start:
            names[low] += 1
            spelled[low] = word
        elif word[0].isupper():
            spelled.setdefault(low, word)
        elif word[0].islower():
            lowers[low] += 1
            spelled.setdefault(low, low)
        else:
            spelled.setdefault(low, low)
    total = max(len(text), 1)
    terms: list[KeyTerm] = []
    for low, n in counts.items():
        # Never written in lower case and capitalised more than once: a name at sentence starts.
        capitalised_only = lowers[low] == 0 and n >= 2 and not low.endswith("ly")
        unknown_capital = (
            lowers[low] == 0 and spelled[low][:1].isupper() and not parts_of_speech(low)
        )
        is_name = (
            (names[low] > 0 and names[low] >= lowers[low]) or capitalised_only or unknown_capital
        )
        weight = n + (1.5 if is_name else 0.0) + 0.5 * (1 - first_seen[low] / total)
        if low.endswith(("ly", "ing", "ed")) and not is_name:
            weight -= 0.5  # adverbs, gerunds and past tenses are rarely the subject
        weight += 0.3 * min(determined[low], 2) - 0.6 * (modifier[low] / n)
        display = spelled[low] if is_name else low
        noun = is_name or _is_noun(
            low,
            determined=determined[low],
            before_verb=before_verb[low],
            modifier=modifier[low],
            uses=n,
        )
        terms.append(KeyTerm(display, weight, is_name, noun))
    terms.sort(key=lambda t: (-t.weight, first_seen[t.text.lower()]))
    return terms[:limit]
