"""Values the moderation pipeline works with: actions, verdicts, context and per-guild rules."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bot.errors import ConfigError
from bot.types import ChannelRef


class Action(enum.StrEnum):
    """What to do with a text; ordered from least to most severe."""

    ALLOW = "allow"
    FLAG = "flag"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.FLAG: 1, Action.BLOCK: 2}


class Direction(enum.StrEnum):
    """Whether a text comes from a user (input) or from the model (output)."""

    INPUT = "input"
    OUTPUT = "output"


class Category(enum.StrEnum):
    """Categories the built-in filters report (guild regex/custom rules use ``custom``)."""

    SLUR = "slur"
    PROFANITY = "profanity"
    SEXUAL = "sexual"
    OFFENSIVE = "offensive"
    CUSTOM = "custom"
    PERSONAL_DATA = "personal_data"
    MENTION = "mention"
    INVITE = "invite"
    LENGTH = "length"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one filter or of the whole pipeline.

    ``rule`` names the filter and entry that decided (``keyword:builtin``, ``regex:2`` ...);
    ``reason`` is a short human explanation that never quotes the offending text.
    """

    action: Action
    categories: tuple[str, ...] = ()
    score: float = 0.0
    reason: str = ""
    rule: str = ""

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK

    @property
    def flagged(self) -> bool:
        return self.action is Action.FLAG

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW

    @classmethod
    def allow(cls, score: float = 0.0) -> Verdict:
        """A verdict that lets the text through."""
        return cls(Action.ALLOW, score=score)

    @staticmethod
    def combine(verdicts: Iterable[Verdict]) -> Verdict:
        """The most severe verdict wins; categories of equally severe verdicts are merged.

        The score is the highest score seen. With no verdicts the result is ``allow``.
        """
        items = list(verdicts)
        if not items:
            return Verdict.allow()
        top = max(items, key=lambda v: v.action.severity)
        same = [v for v in items if v.action is top.action]
        categories = tuple(dict.fromkeys(c for v in same for c in v.categories))
        score = max(v.score for v in items)
        return Verdict(top.action, categories, score, top.reason, top.rule)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape ``storyloom moderate`` prints."""
        return {
            "verdict": str(self.action),
            "categories": list(self.categories),
            "score": round(self.score, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ModerationContext:
    """Where a text is going or coming from; ``nsfw`` is set only for channels Discord marks NSFW."""

    direction: Direction
    guild_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    nsfw: bool = False

    @classmethod
    def for_channel(
        cls, direction: Direction, channel: ChannelRef, user_id: str | None = None
    ) -> ModerationContext:
        """The context of a text going into or out of ``channel`` (NSFW from the channel)."""
        return cls(
            direction=direction,
            guild_id=channel.guild_id,
            channel_id=channel.channel_id,
            user_id=user_id,
            nsfw=channel.nsfw,
        )


@dataclass(frozen=True, slots=True)
class GuildRules:
    """A server's own moderation rules, stored as JSON in the per-guild settings table.

    ``custom_words`` follow Discord AutoMod's wildcard syntax: ``word`` matches the whole word,
    ``word*`` words starting with it, ``*word`` words ending with it, ``*word*`` anywhere.
    ``allow_words`` use the same syntax and exempt matching words from every word filter.
    ``regex_rules`` are run with a time limit. ``classifier_threshold`` overrides the default
    score at which the learned classifier blocks. ``block_categories`` turns a flagging category
    into a blocking one; ``flag_only_categories`` downgrades a blocking category to a flag.
    ``max_length`` lowers the longest text people may send (the bot's own replies keep theirs).
    """

    custom_words: tuple[str, ...] = ()
    allow_words: tuple[str, ...] = ()
    regex_rules: tuple[str, ...] = ()
    classifier_threshold: float | None = None
    block_categories: tuple[str, ...] = ()
    flag_only_categories: tuple[str, ...] = ()
    block_invites: bool = False
    max_length: int | None = None
    mod_log_channel_id: str | None = None

    def __post_init__(self) -> None:
        if self.classifier_threshold is not None and not 0.0 <= self.classifier_threshold <= 1.0:
            raise ConfigError("classifier_threshold must be between 0 and 1")
        if self.max_length is not None and self.max_length <= 0:
            raise ConfigError("max_length must be positive")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuildRules:
        """Build rules from a JSON/TOML mapping; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown guild rule keys: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in _TUPLE_FIELDS:
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise ConfigError(f"{key} must be a list of strings")
                values[key] = tuple(str(v) for v in value)
            else:
                values[key] = value
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid guild rules: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable mapping (lists instead of tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, text: str) -> GuildRules:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"guild rules are not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("guild rules must be a JSON object")
        return cls.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


_TUPLE_FIELDS = frozenset(
    {"custom_words", "allow_words", "regex_rules", "block_categories", "flag_only_categories"}
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One block or flag, as written to the audit table.

    ``text`` is the checked text so that the store can keep its hash (or, if the operator opted
    in, an excerpt); it is left out of ``repr`` so that logging an event never logs the text.
    """

    guild_id: str | None
    channel_id: str | None
    user_id: str | None
    direction: Direction
    rule: str
    category: str
    action: Action
    score: float
    text_length: int
    text: str = field(default="", repr=False)
