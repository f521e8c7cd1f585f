"""A server's moderation rules as stored: one JSON object per guild in the scoped settings table
(namespace ``moderation``, key ``rules``). The pipeline reads them; ``/mod`` commands change them.

Limits follow Discord AutoMod where it has them (10 regex rules of 260 characters); changes are
validated in full before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.moderation.keywords import KeywordSet, normalize_entry
from bot.moderation.regex_rules import MAX_PATTERN_LENGTH, MAX_RULES, compile_rule
from bot.moderation.types import GuildRules

if TYPE_CHECKING:
    from storage.store import Store

log = logging.getLogger(__name__)

RULES_NAMESPACE = "moderation"
RULES_KEY = "rules"
MAX_CUSTOM_WORDS = 200
MAX_ALLOW_WORDS = 100
MAX_REGEX_RULES = MAX_RULES
MAX_WORD_LENGTH = 60
_DEFAULTS = asdict(GuildRules())


def check_word(entry: str) -> None:
    """Raise :class:`ConfigError` unless ``entry`` is a usable AutoMod-style word entry.

    Messages never quote the entry (it may be a slur, and errors are moderated when shown).
    """
    core = normalize_entry(entry).strip("*").strip()
    if not core:
        raise ConfigError("a word needs at least one visible letter or digit")
    if "*" in core:
        raise ConfigError("'*' is allowed only at the start or the end of a word")
    if len(core) > MAX_WORD_LENGTH:
        raise ConfigError(f"a word may be at most {MAX_WORD_LENGTH} characters long")
    KeywordSet([("custom", entry)])


def check_pattern(pattern: str) -> None:
    """Raise :class:`ConfigError` unless ``pattern`` compiles and cannot match an empty text.

    Messages never quote the pattern.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(f"a pattern may be at most {MAX_PATTERN_LENGTH} characters long")
    try:
        compiled = compile_rule(pattern)
    except ConfigError as exc:
        raise ConfigError(f"it does not compile ({exc.__cause__ or 'invalid'})") from None
    try:
        matches_empty = compiled.search("", timeout=0.05) is not None
    except TimeoutError:
        matches_empty = True
    if matches_empty:
        raise ConfigError("it matches an empty text, so it would block every message")


def validate(rules: GuildRules) -> None:
    """Everything :class:`GuildRules` itself does not check: word and pattern syntax, limits."""
    for name, words, limit in (
        ("custom words", rules.custom_words, MAX_CUSTOM_WORDS),
        ("allowed words", rules.allow_words, MAX_ALLOW_WORDS),
    ):
        if len(words) > limit:
            raise ConfigError(f"at most {limit} {name} per server")
        for word in words:
            check_word(word)
    if len(rules.regex_rules) > MAX_REGEX_RULES:
        raise ConfigError(f"at most {MAX_REGEX_RULES} regex rules per server")
    for pattern in rules.regex_rules:
        check_pattern(pattern)


class StoreRulesProvider:
    """Per-guild moderation rules kept in the scoped settings table."""

    def __init__(self, store: Store) -> None:
        self._settings = store.settings
        self._settings.register_defaults(RULES_NAMESPACE, **{RULES_KEY: {}})

    async def rules_for(self, guild_id: str | None) -> GuildRules:
        """The rules in force (defaults, logged, when the stored ones are unreadable)."""
        if guild_id is None:
            return GuildRules()
        try:
            return await self.load(guild_id)
        except ConfigError:
            log.warning("guild %s has invalid moderation rules; using defaults", guild_id)
            return GuildRules()

    async def load(self, guild_id: str) -> GuildRules:
        """The stored rules; :class:`ConfigError` when they cannot be read."""
        return parse(await self._settings.get(RULES_NAMESPACE, RULES_KEY, guild_id=guild_id))

    async def update(
        self, guild_id: str, change: Callable[[GuildRules], GuildRules]
    ) -> tuple[GuildRules, GuildRules]:
        """Apply ``change`` to the stored rules, validate and store the result; returns (before,
        after). Errors from ``change`` or validation leave the stored rules as they were."""

        def apply(raw: Any) -> dict[str, Any]:
            after = change(parse(raw))
            validate(after)
            return to_stored(after)

        # One transaction that other processes wait for: concurrent edits never lose each other.
        before, after = await self._settings.update(
            RULES_NAMESPACE, RULES_KEY, apply, guild_id=guild_id
        )
        return parse(before), parse(after)

    async def reset(self, guild_id: str) -> None:
        """Forget the stored rules (readable or not): the defaults apply again."""
        await self._settings.set(RULES_NAMESPACE, RULES_KEY, {}, guild_id=guild_id)


def parse(raw: Any) -> GuildRules:
    """Rules from their stored JSON; :class:`ConfigError` when they cannot be read."""
    if not isinstance(raw, dict):
        raise ConfigError("stored moderation rules are not a JSON object")
    return GuildRules.from_dict(raw) if raw else GuildRules()


def to_stored(rules: GuildRules) -> dict[str, Any]:
    """The JSON object to store: only the keys that differ from the defaults."""
    return {k: v for k, v in rules.to_dict().items() if _plain(_DEFAULTS[k]) != v}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
