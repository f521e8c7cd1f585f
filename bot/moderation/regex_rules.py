"""Per-guild regular-expression rules, run with a time limit so hostile input cannot hang us.

Patterns are compiled by the third-party ``regex`` module, whose matching functions accept a
``timeout``; a rule that runs out of time counts as a hit of category ``regex_timeout`` (an
attacker must not be able to evade a rule by making it slow). Like Discord AutoMod, patterns are
limited in length and number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import regex

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 260
MAX_RULES = 10


@dataclass(frozen=True, slots=True)
class RegexOutcome:
    index: int
    timed_out: bool


@lru_cache(maxsize=1024)
def compile_rule(pattern: str) -> regex.Pattern[str]:
    """Compile one rule (case-insensitive); :class:`ConfigError` says what is wrong with it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(f"regex rule is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.V0)
    except (regex.error, ValueError, OverflowError) as exc:
        raise ConfigError(f"invalid regex rule {pattern!r}: {exc}") from exc


def validate_rules(patterns: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` unless every pattern compiles and the count is within limits."""
    if len(patterns) > MAX_RULES:
        raise ConfigError(f"at most {MAX_RULES} regex rules per server")
    for pattern in patterns:
        compile_rule(pattern)


def first_match(
    patterns: tuple[str, ...], texts: tuple[str, ...], timeout_s: float
) -> RegexOutcome | None:
    """The first rule matching any of ``texts``; each search is bounded by ``timeout_s``."""
    for index, source in enumerate(patterns[:MAX_RULES]):
        try:
            pattern = compile_rule(source)
        except ConfigError:
            log.warning("skipping invalid regex rule #%d", index)
            continue
        for text in texts:
            try:
                if pattern.search(text, timeout=timeout_s) is not None:
                    return RegexOutcome(index, timed_out=False)
            except TimeoutError:
                log.warning("regex rule #%d timed out after %.3fs", index, timeout_s)
                return RegexOutcome(index, timed_out=True)
    return None
