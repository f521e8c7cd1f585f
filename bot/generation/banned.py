"""Banned words as tokens: what a sampler must never produce (and the favoured words' tokens,
which it is nudged toward: :func:`first_tokens`).

``SamplingParams.banned_words`` holds word entries in Discord AutoMod syntax (``word``, ``word*``,
``*word``, ``*word*``, the syntax of the moderation rules). :func:`compile_banned` turns them into
token bans for one tokenizer:

- single tokens: every vocabulary token whose text (case and surrounding spaces or punctuation
  ignored) is the word, or by the entry's wildcard starts with, ends with or contains it. These
  are banned at every step (and sent to remote servers as ``logit_bias`` -100).
- sequences: the tokenizations of the word's case and space variants (``dragon``, `` dragon``,
  ``Dragon``, `` Dragon``, ``DRAGON``, `` DRAGON``) that take more than one token. The last token
  of a sequence is banned when the tokens before it were just produced (the transformers
  bad-words approach; the prompt's last tokens count, so a prompt ending in half a word cannot
  be completed into it).

This is suppression, not a guarantee (a word can be spelled with other tokens, or stretched):
the moderation post-filter stays the backstop.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_TRIM = string.whitespace + string.punctuation + "“”‘’«»…–—"


@dataclass(frozen=True, slots=True)
class BannedTokens:
    """Token bans compiled from word entries for one tokenizer.

    ``single`` tokens are never sampled; ``sequences`` maps a prefix of token ids to the tokens
    that may not follow it (see :func:`compile_banned`).
    """

    single: frozenset[int]
    sequences: Mapping[tuple[int, ...], frozenset[int]]
    ends: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    """For each token that ends a prefix, the lengths of those prefixes: most steps end on no
    prefix at all, so a row checks one dictionary and moves on."""

    @property
    def prefix_lengths(self) -> tuple[int, ...]:
        """The distinct prefix lengths in ``sequences``, longest first."""
        return tuple(sorted({len(p) for p in self.sequences}, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.single or self.sequences)


NO_BANS = BannedTokens(frozenset(), {}, {})


class SequenceBan:
    """One row's view of :class:`BannedTokens` sequences: the tokens that would complete one.

    (The single-token bans do not depend on the row's text: samplers apply them directly.)
    """

    __slots__ = ("_ends", "_keep", "_rules", "_tail")

    def __init__(self, rules: BannedTokens, prompt_ids: Sequence[int]) -> None:
        self._rules = rules
        self._ends = rules.ends
        lengths = rules.prefix_lengths
        self._keep = lengths[0] if lengths else 0
        self._tail: list[int] = list(prompt_ids[-self._keep :]) if self._keep else []

    def push(self, token: int) -> None:
        """Record the token the row just produced."""
        if self._keep:
            self._tail.append(token)
            if len(self._tail) > 2 * self._keep:
                del self._tail[: -self._keep]

    def banned(self) -> set[int]:
        """Tokens banned at this step: the last token of every sequence whose prefix was just
        produced."""
        out: set[int] = set()
        tail = self._tail
        if not tail:
            return out
        for length in self._ends.get(tail[-1], ()):
            if len(tail) >= length:
                found = self._rules.sequences.get(tuple(tail[len(tail) - length :]))
                if found:
                    out |= found
        return out


def parse_entry(entry: str) -> tuple[str, bool, bool] | None:
    """(core word, matches at the start of a longer word, at the end) or None when empty."""
    text = entry.strip()
    core = text.strip("*").strip()
    if not core or "*" in core:
        return None
    return core, text.endswith("*"), text.startswith("*")


def _variants(core: str) -> list[str]:
    forms = dict.fromkeys([core, core.lower(), core.capitalize(), core.upper()])
    return [space + form for form in forms for space in ("", " ")]


_vocab_lock = threading.Lock()
_vocab_texts: dict[int, tuple[Any, tuple[str, ...]]] = {}  # id -> (tokenizer, texts)


def vocabulary_texts(tokenizer: Any) -> tuple[str, ...]:
    """Every token's text, lower-cased and trimmed of spaces and punctuation (cached per
    tokenizer; about 0.05 s for a 4k vocabulary, once)."""
    with _vocab_lock:
        cached = _vocab_texts.get(id(tokenizer))
        if cached is not None and cached[0] is tokenizer:
            return cached[1]
        raw = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        texts = tuple(text.strip(_TRIM).lower() for text in raw)
        _vocab_texts[id(tokenizer)] = (tokenizer, texts)
        return texts


def compile_banned(tokenizer: Any, words: Iterable[str]) -> BannedTokens:
    """The token bans for ``words`` with ``tokenizer`` (cached per tokenizer and word tuple)."""
    entries = tuple(dict.fromkeys(words))
    if not entries:
        return NO_BANS
    return _compile_cached(_TokenizerKey(tokenizer), entries)


class _TokenizerKey:
    """Hashes a tokenizer by identity for the compile cache (tokenizers are not hashable)."""

    __slots__ = ("tokenizer",)

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __hash__(self) -> int:
        return id(self.tokenizer)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TokenizerKey) and other.tokenizer is self.tokenizer


@lru_cache(maxsize=256)
def _compile_cached(key: _TokenizerKey, entries: tuple[str, ...]) -> BannedTokens:
    tokenizer = key.tokenizer
    special = {int(i) for i in getattr(tokenizer, "all_special_ids", None) or ()}
    whole: set[str] = set()
    patterns: list[str] = []
    sequences: dict[tuple[int, ...], set[int]] = {}
    single: set[int] = set()
    for entry in entries:
        parsed = parse_entry(entry)
        if parsed is None:
            continue
        core, longer_after, longer_before = parsed
        folded = core.lower()
        if longer_after or longer_before:
            before = ".*" if longer_before else ""
            after = ".*" if longer_after else ""
            patterns.append(f"{before}{re.escape(folded)}{after}")
        else:
            whole.add(folded)
        for form in _variants(core):
            ids = tokenizer.encode(form, add_special_tokens=False)
            if len(ids) == 1:
                single.add(int(ids[0]))
            elif ids:
                sequences.setdefault(tuple(int(i) for i in ids[:-1]), set()).add(int(ids[-1]))
    matcher = re.compile("|".join(patterns), re.DOTALL) if patterns else None
    for token_id, text in enumerate(vocabulary_texts(tokenizer)):
        if not text or token_id in special:
            continue
        if text in whole or (matcher is not None and matcher.fullmatch(text)):
            single.add(token_id)
    single -= special
    kept = {
        prefix: frozenset(last - special) for prefix, last in sequences.items() if last - special
    }
    ends: dict[int, set[int]] = {}
    for prefix in kept:
        ends.setdefault(prefix[-1], set()).add(len(prefix))
    return BannedTokens(
        frozenset(single), kept, {token: tuple(sorted(n)) for token, n in ends.items()}
    )


def first_tokens(tokenizer: Any, words: Iterable[str]) -> frozenset[int]:
    """The tokens that spell a favoured word whole (``dragon``, `` dragon``, `` Dragon``, ...:
    the case and leading-space variants that are one token each). Words that take several
    tokens are left out: lifting only their first piece makes a small model stutter it
    ("light light light" for "lighthouse")."""
    entries = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
    if not entries:
        return frozenset()
    return _first_tokens_cached(_TokenizerKey(tokenizer), entries)


@lru_cache(maxsize=256)
def _first_tokens_cached(key: _TokenizerKey, entries: tuple[str, ...]) -> frozenset[int]:
    tokenizer = key.tokenizer
    special = {int(i) for i in getattr(tokenizer, "all_special_ids", None) or ()}
    found: set[int] = set()
    for entry in entries:
        for form in _variants(entry):
            ids = tokenizer.encode(form, add_special_tokens=False)
            if len(ids) == 1 and int(ids[0]) not in special:
                found.add(int(ids[0]))
    return frozenset(found)


def logit_bias(rules: BannedTokens, limit: int = 300) -> dict[str, int]:
    """OpenAI ``logit_bias`` for the single-token bans (-100 bans a token); at most ``limit``
    entries (OpenAI's own cap), lowest ids first."""
    return {str(token): -100 for token in sorted(rules.single)[:limit]}
