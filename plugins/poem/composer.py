"""Writing a poem that keeps its form, with a model that knows nothing about poetry.

Strategy (works with a tiny base model; chat models get a whole-poem draft first):

1. Line by line: the prompt holds the poem so far and the model writes one line (stop at the
   newline), with a token budget sized from the line's syllable budget.
2. Several candidates per line are sampled at once (the generation service batches them).
   Candidates that are too short are extended once; long ones are cut at word boundaries where
   the syllable count fits.
3. Every fitting cut is scored (natural line end, no dangling "the", on topic, not repeating
   earlier lines, an end word that has rhymes) and the best is kept.
4. A line that must rhyme takes a rhyming candidate when there is one; otherwise its last word is
   replaced by a common word that rhymes and keeps the syllable count (repair).
5. The finished poem is checked; a poem that fails its form is written again (up to
   ``max_attempts``), keeping the best attempt, which the caller reports as approximated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.generation.types import ChatMessage, GenerationRequest, SamplingParams
from plugins.kit.keywords import content_words
from plugins.kit.rerank import DANGLING_WORDS
from plugins.kit.words import made_up_words, shared_content
from plugins.poem.forms import FormCheck, LineRule, PoemForm, check_lines, check_poem, layout
from plugins.poem.prompts import (
    QUATRAIN_TARGET_SCHEME,
    PoemPrompt,
    base_line_prompt,
    chat_line_prompt,
    chat_poem_prompt,
)
from plugins.poem.prosody import (
    ZERO,
    SyllableRange,
    is_known,
    line_syllables,
    rhymes,
    split_words,
    syllables,
)
from plugins.poem.wordlist import common_words, rhyming_words

__all__ = ["ComposedPoem", "Generate", "PoemComposer", "clean_line", "line_cuts"]

log = logging.getLogger(__name__)

Generate = Callable[[GenerationRequest], Awaitable[str | None]]
"""Runs one request and returns its text, or None when moderation refused every attempt."""

_WEAK_ENDINGS_TEXT = """
a an the and or but of to in on at by for with from into onto as if than that so is are was
were be been am my your his her its our their this these those i he she we they it you very
too not no
"""
WEAK_ENDINGS = frozenset(_WEAK_ENDINGS_TEXT.split()) | DANGLING_WORDS
LINE_OPENINGS = ("The", "A", "In the", "My", "We", "And", "When the", "On the", "I", "All")
_HEADING = re.compile(r"^(?:an?|the)\s+\w+(?:\s+\w+)?\s+(?:poem\s+)?about\b.*:$", re.IGNORECASE)
_LEADING_JUNK = re.compile(r"^(?:\d+[.)]\s*|[-*•>]+\s*|line\s*\d+\s*:\s*)", re.IGNORECASE)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class ComposedPoem:
    """A finished poem and its form check. ``repairs``: lines whose end word was replaced."""

    form: PoemForm
    lines: tuple[str, ...]
    check: FormCheck
    attempts: int
    repairs: int = 0

    @property
    def valid(self) -> bool:
        return self.check.valid


@dataclass(frozen=True, slots=True)
class ComposerSettings:
    """Knobs of the composer (a plugin builds them from its settings)."""

    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(
            temperature=0.9, top_k=40, top_p=0.95, repetition_penalty=1.15
        )
    )
    candidates: int = 4
    max_attempts: int = 3
    examples: int = 2
    favour: float = 0.0
    """Base models: logit added to the topic's words while a line is written (0: off)."""
    deadline_s: float | None = 60.0
    priority: int = 0


@dataclass(frozen=True, slots=True)
class _Option:
    text: str
    natural: bool
    score: float


def clean_line(raw: str) -> str:
    """The first usable line of a model's output: no list markers, quotes or headings."""
    raw = raw.replace("\ufffd", "")  # half a character from a byte-level tokenizer
    for line in raw.replace("\r", "\n").split("\n"):
        text = " ".join(line.split())
        text = _LEADING_JUNK.sub("", text).strip().strip('"“”').lstrip(",.;:!?-–—… ").strip()
        if not text:
            continue
        if _HEADING.match(text) or text.endswith(":"):
            return ""
        return text.rstrip(",;:-–— ")
    return ""


def line_cuts(line: str, rule: LineRule) -> list[tuple[str, bool]]:
    """Prefixes of ``line`` that end at a word and fit the rule's syllables: (text, is_whole)."""
    tokens = list(_TOKEN.finditer(line))
    cuts: list[tuple[str, bool]] = []
    running = ZERO
    for i, token in enumerate(tokens):
        running = running + line_syllables(token.group())
        if running.low > rule.max_syllables:
            break
        if split_words(token.group()) and running.allows(rule.min_syllables, rule.max_syllables):
            text = line[: token.end()]
            whole = i == len(tokens) - 1
            cuts.append((text if whole else text.rstrip(",;:-–— "), whole))
    return cuts


class PoemComposer:
    """Composes one poem through ``generate``; ``chat`` selects the chat prompt format."""

    def __init__(
        self,
        generate: Generate,
        *,
        chat: bool,
        settings: ComposerSettings,
        rng: random.Random,
        channel_key: str = "",
    ) -> None:
        self._generate = generate
        self._chat = chat
        self._settings = settings
        self._rng = rng
        self._channel_key = channel_key

    async def compose(self, prompt: PoemPrompt, *, lines: int = 4) -> ComposedPoem:
        """Write a poem for ``prompt``; check it; retry up to ``max_attempts``; return the best."""
        scheme = QUATRAIN_TARGET_SCHEME if prompt.form is PoemForm.QUATRAIN else ""
        rules = layout(prompt.form, word=prompt.word, lines=lines, scheme=scheme)
        topic_words = frozenset(content_words(f"{prompt.topic} {prompt.word}"))
        best: ComposedPoem | None = None
        best_on_topic = False
        attempts = max(1, self._settings.max_attempts)
        for attempt in range(attempts):
            draft: dict[int, str] = {}
            if self._chat and attempt == 0:
                draft = await self._chat_draft(prompt, rules)
            poem_lines, repairs = await self._compose_lines(prompt, rules, draft, topic_words)
            check = check_poem(prompt.form, poem_lines, word=prompt.word)
            poem = ComposedPoem(prompt.form, tuple(poem_lines), check, attempt + 1, repairs)
            on_topic = not prompt.topic.strip() or bool(
                shared_content(" ".join(poem_lines), prompt.topic)
            )
            if best is None or _rank(poem, on_topic) > _rank(best, best_on_topic):
                best, best_on_topic = poem, on_topic
            if check.valid and on_topic:
                break
            log.debug("poem attempt %d failed its form: %s", attempt + 1, check.problems)
        assert best is not None
        return ComposedPoem(best.form, best.lines, best.check, attempt + 1, best.repairs)

    # -- one attempt ----------------------------------------------------------------------
    async def _chat_draft(self, prompt: PoemPrompt, rules: Sequence[LineRule]) -> dict[int, str]:
        budget = sum(_token_budget(rule) for rule in rules) + 8 * len(rules)
        text = await self._generate(self._request(chat_poem_prompt(prompt, rules), budget, ()))
        if not text:
            return {}
        lines = [line for line in (clean_line(raw) for raw in text.split("\n")) if line]
        if len(lines) < len(rules):
            return dict(enumerate(lines)) if len(lines) == len(rules) - 1 else {}
        # Chat models add titles and sign-offs: keep the run of lines that fits the form best.
        windows = [lines[i : i + len(rules)] for i in range(len(lines) - len(rules) + 1)]
        best = min(windows, key=lambda window: len(check_lines(rules, window)))
        return dict(enumerate(best))

    async def _compose_lines(
        self,
        prompt: PoemPrompt,
        rules: Sequence[LineRule],
        draft: Mapping[int, str],
        topic_words: frozenset[str],
    ) -> tuple[list[str], int]:
        lines: list[str] = []
        repairs = 0
        anchors: dict[str, str] = {}
        for i, rule in enumerate(rules):
            anchor = anchors.get(rule.rhyme) if rule.rhyme else None
            kept = draft.get(i)
            if kept is not None and _fits(kept, rule, anchor, lines):
                line = _finish(kept)
            else:
                line, repaired = await self._line(prompt, rules, lines, rule, anchor, topic_words)
                repairs += repaired
            lines.append(line)
            if rule.rhyme and rule.rhyme not in anchors:
                words = split_words(line)
                if words:
                    anchors[rule.rhyme] = words[-1]
        return lines, repairs

    async def _line(
        self,
        prompt: PoemPrompt,
        rules: Sequence[LineRule],
        lines: list[str],
        rule: LineRule,
        anchor: str | None,
        topic_words: frozenset[str],
    ) -> tuple[str, bool]:
        prefixes = self._prefixes(rule, topic_words, "" if lines else prompt.topic)
        requests = [self._line_request(prompt, rules, lines, prefix, rule) for prefix in prefixes]
        outputs = await asyncio.gather(*(self._generate(r) for r in requests))
        candidates = [
            clean_line(_join(prefix, out)) if out is not None else ""
            for prefix, out in zip(prefixes, outputs, strict=True)
        ]
        # Extend candidates that stopped short of the syllable budget, once, in one batch.
        short = [
            i for i, c in enumerate(candidates) if c and line_syllables(c).high < rule.min_syllables
        ]
        if short:
            more = await asyncio.gather(
                *(
                    self._generate(self._line_request(prompt, rules, lines, candidates[i], rule))
                    for i in short
                )
            )
            for i, out in zip(short, more, strict=True):
                if out:
                    candidates[i] = clean_line(candidates[i] + out)
        used_ends = {w[-1].lower() for w in (split_words(line) for line in lines) if w}
        earlier = {_norm(line) for line in lines}
        options = [
            _Option(
                text,
                natural,
                _score(
                    text, natural, rule, anchor is None and bool(rule.rhyme), lines, topic_words
                ),
            )
            for candidate in dict.fromkeys(c for c in candidates if c)
            for text, natural in line_cuts(candidate, rule)
            if (not rule.initial or _initial(text) == rule.initial)
            and _norm(text) not in earlier
            and _real_line(text, topic_words)
        ]
        options.sort(key=lambda o: -o.score)
        if anchor is not None:
            rhyming = [
                o
                for o in options
                if rhymes(anchor, _end(o.text)) and _end(o.text).lower() not in used_ends
            ]
            if rhyming:
                return _finish(rhyming[0].text), False
            pool = " ".join(candidates) + " " + prompt.topic + " " + prompt.context
            for option in options:
                repaired = _substitute_rhyme(option.text, rule, anchor, used_ends, pool)
                if repaired:
                    return _finish(repaired), True
        if options:
            return _finish(options[0].text), False
        # Nothing fits: keep the candidate closest to the budget; the check will fail.
        usable = [c for c in candidates if c] or [prefixes[0] or "..."]
        closest = min(
            usable, key=lambda c: line_syllables(c).distance(rule.min_syllables, rule.max_syllables)
        )
        return _finish(closest), False

    def _prefixes(self, rule: LineRule, topic_words: frozenset[str], topic: str = "") -> list[str]:
        count = max(1, self._settings.candidates)
        if not rule.initial:
            # Half the candidates start freely, half with a plain line opening: small models
            # often begin a line with a broken word when they start from nothing. The first
            # line may open with the topic itself ("The moon ...") so the poem is about it.
            free = (count + 1) // 2
            openings = self._rng.sample(LINE_OPENINGS, k=min(count - free, 8))
            topic = " ".join(topic.split())
            if topic and len(topic.split()) <= 4 and openings:
                openings[0] = topic[:1].upper() + topic[1:]
            return [""] * free + openings
        letter = rule.initial
        starters = [w for w in sorted(topic_words) if w.startswith(letter)]
        common = [
            w
            for w in common_words()[:3000]
            if w.startswith(letter) and w not in WEAK_ENDINGS and len(w) > 2
        ][:20]
        prefixes = [letter.upper()]
        pool = starters + self._rng.sample(common, k=min(len(common), count))
        for word in pool:
            if len(prefixes) >= count:
                break
            prefixes.append(word.capitalize())
        while len(prefixes) < count:
            prefixes.append(letter.upper())
        return prefixes

    def _line_request(
        self,
        prompt: PoemPrompt,
        rules: Sequence[LineRule],
        lines: list[str],
        prefix: str,
        rule: LineRule,
    ) -> GenerationRequest:
        budget = _token_budget(rule)
        if self._chat:
            return self._request(
                chat_line_prompt(prompt, rules, lines, prefix), budget + 4, ("\n\n",)
            )
        request = self._request(
            base_line_prompt(prompt, lines, prefix, examples=self._settings.examples),
            budget,
            ("\n",),
        )
        topic = tuple(content_words(prompt.topic))
        if not (self._settings.favour and topic):
            return request
        params = request.params.replace(favoured_words=topic, favour=self._settings.favour)
        return dataclasses.replace(request, params=params)

    def _request(
        self, prompt: str | tuple[ChatMessage, ...], max_new_tokens: int, stop: tuple[str, ...]
    ) -> GenerationRequest:
        params = self._settings.sampling.replace(
            max_new_tokens=max_new_tokens, stop=stop, seed=self._rng.randrange(2**31)
        )
        return GenerationRequest(
            prompt=prompt,
            params=params,
            channel_key=self._channel_key,
            priority=self._settings.priority,
            deadline_s=self._settings.deadline_s,
        )


def _join(prefix: str, text: str) -> str:
    """A line from its prefix and the model's continuation (an opening is a whole word)."""
    if prefix in LINE_OPENINGS and text[:1].isalnum():
        return f"{prefix} {text}"
    return prefix + text


def _token_budget(rule: LineRule) -> int:
    return 2 * rule.max_syllables + 6


def _rank(poem: ComposedPoem, on_topic: bool) -> tuple[bool, bool, int, int]:
    return (poem.check.valid, on_topic, -len(poem.check.problems), -poem.repairs)


def _end(text: str) -> str:
    words = split_words(text)
    return words[-1] if words else ""


def _norm(text: str) -> str:
    return " ".join(split_words(text)).lower()


def _initial(text: str) -> str:
    match = re.search(r"[A-Za-z]", text)
    return match.group().lower() if match else ""


def _real_line(text: str, topic_words: frozenset[str]) -> bool:
    """A line worth keeping: it starts with a word (not punctuation), every word is a word in
    use (the dictionary's, not a stray abbreviation such as "har" or a lone "y"; or one of the
    topic's), and it ends on a content word, at a phrase boundary, not on "the", "with", "and"."""
    words = split_words(text)
    if not words or not re.match(r"[\"'“‘]?[A-Za-z0-9]", text):
        return False
    if words[-1].lower() in WEAK_ENDINGS:
        return False
    if any(len(w) == 1 and w.lower() not in "aio" and not w.isdigit() for w in words):
        return False  # "All y came", "All s of the"
    known = all(w.lower() in topic_words or is_known(w) for w in words)
    return known and not made_up_words(text, topic_words)


def _finish(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _fits(line: str, rule: LineRule, anchor: str | None, lines: Sequence[str]) -> bool:
    if not line_syllables(line).allows(rule.min_syllables, rule.max_syllables):
        return False
    if rule.initial and _initial(line) != rule.initial:
        return False
    if anchor is not None and not rhymes(anchor, _end(line)):
        return False
    return line.lower() not in (x.lower() for x in lines)


def _score(
    text: str,
    natural: bool,
    rule: LineRule,
    is_anchor: bool,
    lines: Sequence[str],
    topic_words: frozenset[str],
) -> float:
    words = [w.lower() for w in split_words(text)]
    if not words:
        return -100.0
    score = 2.0 if natural else 0.0
    if words[-1] in WEAK_ENDINGS:
        score -= 2.5
    count = line_syllables(text)
    score -= 0.4 * abs(count.middle - rule.target)
    score += min(2.0, 0.8 * len(topic_words.intersection(words)))
    earlier = {w.lower() for line in lines for w in split_words(line)}
    content = [w for w in words if w not in WEAK_ENDINGS]
    if content:
        overlap = sum(1 for w in content if w in earlier) / len(content)
        score -= 2.0 * overlap
    if any(a == b for a, b in itertools.pairwise(words)):
        score -= 2.0
    if any(len(w) > 14 for w in words) or re.search(r"[^\x20-\x7e]", text):
        score -= 1.0
    unknown = sum(1 for w in words if w not in topic_words and not is_known(w))
    score -= min(4.0, 1.2 * unknown)  # made-up words: a small model's typos
    if re.search(r"[0-9\[\]{}()<>_*#@/\\|=+~^]", text):
        score -= 3.0  # digits, brackets and markup do not belong in a children's poem
    if text.count('"') % 2:
        score -= 1.0
    if is_anchor:
        # The other lines of the group need rhymes of this word: prefer rhyme-rich end words.
        family = len([w for w in rhyming_words(words[-1], limit=40) if w not in WEAK_ENDINGS])
        score += -3.0 if family < 3 else min(1.5, 0.5 * math.log2(1 + family))
    return score


def _substitute_rhyme(
    text: str, rule: LineRule, anchor: str, used_ends: set[str], pool: str
) -> str | None:
    """``text`` with its last word replaced by a rhyme of ``anchor`` that keeps the line's
    syllables within the rule, or None when no common word fits."""
    tokens = text.split()
    if len(tokens) < 2:
        return None
    head = " ".join(tokens[:-1])
    head_count = line_syllables(head)
    tail = tokens[-1]
    trailing = tail[len(tail.rstrip(".!?,;")) :]
    wanted: list[int] = [
        k
        for k in range(1, 5)
        if (head_count + SyllableRange(k, k)).allows(rule.min_syllables, rule.max_syllables)
    ]
    if not wanted:
        return None
    preferred = {w.lower() for w in split_words(pool)}
    choices = [
        w
        for w in rhyming_words(anchor, limit=200)
        if w not in WEAK_ENDINGS
        and w not in used_ends
        and len(w) > 1
        and any(syllables(w).allows(k) for k in wanted)
    ]
    if not choices:
        return None
    choices.sort(key=lambda w: w not in preferred)  # stable: words from the context first
    return f"{head} {choices[0]}{trailing}"
