"""Built-in moderation commands: a server's own word lists, regex rules, classifier threshold,
mod-log channel, and its recent audit events (``/mod ...``, Manage Server, servers only).

The commands are declared ``moderated=False``: moderators must be able to type and read the
words they forbid. Replies are private where the platform allows; error messages never quote a
word or pattern (errors are shown through the content filters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Protocol

from bot.errors import ConfigError, UsageError
from bot.moderation.keywords import normalize_entry
from bot.moderation.regex_rules import MAX_PATTERN_LENGTH
from bot.moderation.rules_store import (
    MAX_ALLOW_WORDS,
    MAX_CUSTOM_WORDS,
    MAX_REGEX_RULES,
    StoreRulesProvider,
    check_pattern,
    check_word,
)
from bot.moderation.settings import ModerationSettings
from bot.moderation.types import Category, GuildRules
from bot.plugin import Call, Param, Plugin, PluginContext, command
from bot.records import ModerationEvent
from bot.types import Permission, Reply

MAX_EVENTS = 25
_RESET_WORDS = frozenset({"default", "reset", "none", "off"})
_WORD_LISTS = {
    "custom_words": ("blocked word", MAX_CUSTOM_WORDS, "/mod words"),
    "allow_words": ("allowed word", MAX_ALLOW_WORDS, "/mod allow"),
}
_WORDS_HELP = "Comma-separated; word, word*, *word or *word* (AutoMod wildcards)"
# Categories a server may tune. Slurs, personal data and mentions keep the bot's handling: a
# server can make the bot stricter there (custom words, regex) but never let them through.
TunableCategory = Literal["profanity", "sexual", "offensive", "custom", "invite"]


class AuditLog(Protocol):
    """A server's recorded blocks and flags, newest first (storage implements it)."""

    async def find(
        self, *, guild_id: str | None = None, limit: int = 100
    ) -> list[ModerationEvent]: ...


def _mod(path: str, *, description: str, examples: tuple[str, ...] = ()) -> Callable[..., Any]:
    return command(
        path,
        description=description,
        permission=Permission.MANAGE_GUILD,
        guild_only=True,
        moderated=False,
        examples=examples,
    )


def _code(text: str) -> str:
    """``text`` as inline code that its own backticks cannot break out of."""
    return f"`{text.replace('`', 'ˋ')}`"


def _split_words(text: str) -> list[str]:
    words = (" ".join(part.split()).lower() for part in text.split(","))
    return list(dict.fromkeys(w for w in words if w))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _with_words(rules: GuildRules, field: str, words: tuple[str, ...]) -> GuildRules:
    changes: dict[str, Any] = {field: words}
    return dataclasses.replace(rules, **changes)


def _rule_label(rule: str) -> str:
    """An audit rule name for people: ``regex:0`` is regex rule 1 in ``/mod rules``."""
    kind, _, rest = rule.partition(":")
    if kind == "regex":
        index, _, timeout = rest.partition(":")
        if index.isdigit():
            return f"regex rule {int(index) + 1}" + (" (timed out)" if timeout else "")
    return rule or "?"


class ModerationPlugin(Plugin):
    """Always loaded; cannot be disabled (moderators must always reach their rules)."""

    name: ClassVar[str] = "moderation"
    description: ClassVar[str] = "Server moderation rules, mod-log channel and audit events."
    can_disable: ClassVar[bool] = False

    def __init__(
        self,
        context: PluginContext,
        *,
        rules: StoreRulesProvider,
        audit: AuditLog,
        defaults: ModerationSettings,
    ) -> None:
        super().__init__(context)
        self._rules = rules
        self._audit = audit
        self._defaults = defaults

    # -- reading ----------------------------------------------------------------------------
    @_mod("mod rules", description="Show this server's moderation rules.", examples=("/mod rules",))
    async def show(self, call: Call) -> Reply:
        rules = await self._load(call)
        defaults = self._defaults
        lines = ["**Moderation rules for this server**"]
        for field, (noun, limit, _) in _WORD_LISTS.items():
            words: tuple[str, ...] = getattr(rules, field)
            shown = ", ".join(_code(w) for w in words) or "none"
            lines.append(f"{noun.capitalize()}s ({len(words)}/{limit}): {shown}")
        patterns = " ".join(f"{i}. {_code(p)}" for i, p in enumerate(rules.regex_rules, 1))
        lines.append(
            f"Regex rules ({len(rules.regex_rules)}/{MAX_REGEX_RULES}): {patterns or 'none'}"
        )
        lines.append(f"Classifier threshold: {self._threshold(rules.classifier_threshold)}")
        lines.append(
            f"Always block: {', '.join(rules.block_categories) or 'nothing extra'} · "
            f"only flag: {', '.join(rules.flag_only_categories) or 'nothing'} · "
            f"invite links: {'blocked' if rules.block_invites else 'flagged'} · "
            f"max length: {rules.max_length or defaults.max_input_length}"
        )
        lines.append(f"Mod-log channel: {self._channel(call, rules.mod_log_channel_id)}")
        lines.append(
            "Change them with `/mod words`, `/mod allow`, `/mod regex`, `/mod threshold`, "
            "`/mod category`, `/mod maxlength`, `/mod log` or `/mod reset`; "
            "`/mod events` lists recent blocks and flags."
        )
        return Reply(text="\n".join(lines), ephemeral=True)

    @_mod(
        "mod events",
        description="List this server's most recent blocks and flags.",
        examples=("/mod events", "/mod events 25"),
    )
    async def events(
        self,
        call: Call,
        count: Annotated[int, Param("How many (newest first)", min=1, max=MAX_EVENTS)] = 10,
    ) -> Reply:
        found = await self._audit.find(guild_id=self._guild(call), limit=count)
        if not found:
            return Reply(
                text="No blocks or flags have been recorded in this server.", ephemeral=True
            )
        lines = [f"**Last {_plural(len(found), 'moderation event')}** (newest first)"]
        for e in found:
            parts = [
                f"`{e.created_at:%Y-%m-%d %H:%M} UTC` **{e.action}** {e.direction.value}",
                e.category or "no category",
                _rule_label(e.rule),
            ]
            parts.append(f"channel {e.channel_id}" if e.channel_id else "direct message")
            parts.append(f"user {e.user_id}" if e.user_id else "the model")
            lines.append(" · ".join(parts))
        return Reply(text="\n".join(lines), ephemeral=True)

    # -- word lists -------------------------------------------------------------------------
    @_mod(
        "mod words add",
        description="Block words in this server (word, word*, *word, *word*).",
        examples=("/mod words add spam*", "/mod words add *scam*, free gift"),
    )
    async def words_add(
        self, call: Call, words: Annotated[str, Param(_WORDS_HELP, rest=True, max=2000)]
    ) -> Reply:
        return await self._add_words(call, "custom_words", words)

    @_mod(
        "mod words remove",
        description="Stop blocking words in this server.",
        examples=("/mod words remove spam*",),
    )
    async def words_remove(
        self,
        call: Call,
        words: Annotated[str, Param("Comma-separated, as listed", rest=True, max=2000)],
    ) -> Reply:
        return await self._remove_words(call, "custom_words", words)

    @_mod(
        "mod allow add",
        description="Exempt words from every word filter in this server.",
        examples=("/mod allow add spamalot", "/mod allow add scampi*"),
    )
    async def allow_add(
        self, call: Call, words: Annotated[str, Param(_WORDS_HELP, rest=True, max=2000)]
    ) -> Reply:
        return await self._add_words(call, "allow_words", words)

    @_mod(
        "mod allow remove",
        description="Take words off this server's allow-list.",
        examples=("/mod allow remove spamalot",),
    )
    async def allow_remove(
        self,
        call: Call,
        words: Annotated[str, Param("Comma-separated, as listed", rest=True, max=2000)],
    ) -> Reply:
        return await self._remove_words(call, "allow_words", words)

    async def _add_words(self, call: Call, field: str, text: str) -> Reply:
        noun, limit, group = _WORD_LISTS[field]
        wanted = _split_words(text)
        if not wanted:
            raise UsageError("Give at least one word.", usage=f"{group} add <words>")
        for position, word in enumerate(wanted, 1):
            try:
                check_word(word)
            except ConfigError as exc:
                which = "That word" if len(wanted) == 1 else f"Word {position}"
                raise UsageError(f"{which} can't be used: {exc}. Nothing was changed.") from None
        added: list[str] = []

        def change(rules: GuildRules) -> GuildRules:
            current: tuple[str, ...] = getattr(rules, field)
            known = {normalize_entry(w) for w in current}
            added[:] = [w for w in wanted if normalize_entry(w) not in known]
            if len(current) + len(added) > limit:
                raise UsageError(
                    f"This server can have at most {limit} {noun}s; it has "
                    f"{len(current)}. Remove some first. Nothing was changed."
                )
            return _with_words(rules, field, (*current, *added))

        _, after = await self._update(call, change)
        total = len(getattr(after, field))
        lines = []
        if added:
            lines.append(f"Added {_plural(len(added), noun)}: {', '.join(map(_code, added))}.")
        skipped = [w for w in wanted if w not in added]
        if skipped:
            lines.append(f"Already listed: {', '.join(map(_code, skipped))}.")
        lines.append(f"This server now has {_plural(total, noun)}.")
        return Reply(text=" ".join(lines), ephemeral=True)

    async def _remove_words(self, call: Call, field: str, text: str) -> Reply:
        noun, _, group = _WORD_LISTS[field]
        wanted = _split_words(text)
        if not wanted:
            raise UsageError("Give at least one word.", usage=f"{group} remove <words>")
        removed: list[str] = []

        def change(rules: GuildRules) -> GuildRules:
            gone = {normalize_entry(w) for w in wanted}
            current: tuple[str, ...] = getattr(rules, field)
            removed[:] = [w for w in current if normalize_entry(w) in gone]
            if not removed:
                raise UsageError(
                    f"None of those are on this server's list of {noun}s. "
                    "`/mod rules` shows the list."
                )
            return _with_words(rules, field, tuple(w for w in current if w not in removed))

        _, after = await self._update(call, change)
        lines = [f"Removed {_plural(len(removed), noun)}: {', '.join(map(_code, removed))}."]
        missing = len(wanted) - len(removed)
        if missing > 0:
            lines.append(
                f"{_plural(missing, 'other')} {'was' if missing == 1 else 'were'} not listed."
            )
        lines.append(f"This server now has {_plural(len(getattr(after, field)), noun)}.")
        return Reply(text=" ".join(lines), ephemeral=True)

    # -- regex rules ------------------------------------------------------------------------
    @_mod(
        "mod regex add",
        description="Block messages matching a regular expression here.",
        examples=(r"/mod regex add \bfree\s+nitro\b",),
    )
    async def regex_add(
        self,
        call: Call,
        pattern: Annotated[
            str, Param("A regular expression (case-insensitive)", rest=True, max=MAX_PATTERN_LENGTH)
        ],
    ) -> Reply:
        pattern = pattern.strip()
        try:
            check_pattern(pattern)
        except ConfigError as exc:
            raise UsageError(f"That pattern can't be used: {exc}. Nothing was changed.") from None

        def change(rules: GuildRules) -> GuildRules:
            if pattern in rules.regex_rules:
                number = rules.regex_rules.index(pattern) + 1
                raise UsageError(f"That pattern is already regex rule {number}.")
            if len(rules.regex_rules) >= MAX_REGEX_RULES:
                raise UsageError(
                    f"This server already has {MAX_REGEX_RULES} regex rules, the most "
                    "allowed. Remove one first (`/mod regex remove <number>`)."
                )
            return dataclasses.replace(rules, regex_rules=(*rules.regex_rules, pattern))

        _, after = await self._update(call, change)
        return Reply(
            text=f"Added regex rule {len(after.regex_rules)}: {_code(pattern)}. Messages "
            "matching it are now blocked in this server.",
            ephemeral=True,
        )

    @_mod(
        "mod regex remove",
        description="Remove a regex rule (its number in /mod rules, or the pattern).",
        examples=("/mod regex remove 2",),
    )
    async def regex_remove(
        self,
        call: Call,
        rule: Annotated[
            str,
            Param("Its number in /mod rules, or the pattern", rest=True, max=MAX_PATTERN_LENGTH),
        ],
    ) -> Reply:
        rule = rule.strip()
        removed: list[str] = []

        def change(rules: GuildRules) -> GuildRules:
            patterns = list(rules.regex_rules)
            if rule in patterns:
                index = patterns.index(rule)
            elif rule.isdigit() and 1 <= int(rule) <= len(patterns):
                index = int(rule) - 1
            else:
                raise UsageError(
                    f"There is no such regex rule; this server has "
                    f"{_plural(len(patterns), 'rule')}. `/mod rules` numbers them."
                )
            removed.append(patterns.pop(index))
            return dataclasses.replace(rules, regex_rules=tuple(patterns))

        _, after = await self._update(call, change)
        return Reply(
            text=f"Removed regex rule {_code(removed[0])}; "
            f"{_plural(len(after.regex_rules), 'regex rule')} left.",
            ephemeral=True,
        )

    # -- threshold and mod-log --------------------------------------------------------------
    @_mod(
        "mod threshold",
        description="Set the classifier score that blocks a message (0-1), or default.",
        examples=("/mod threshold 0.9", "/mod threshold default"),
    )
    async def threshold(
        self, call: Call, value: Annotated[str, Param("0 to 1 (lower blocks more), or 'default'")]
    ) -> Reply:
        friendly = UsageError(
            "The threshold must be a number from 0 to 1 (lower blocks more), or `default`.",
            usage="/mod threshold <value>",
        )
        typed = value.strip().lower()
        new: float | None = None
        if typed not in _RESET_WORDS:
            try:
                new = float(typed)
            except ValueError:
                raise friendly from None

        def change(rules: GuildRules) -> GuildRules:
            try:  # GuildRules checks the range (NaN and infinities fail it too)
                return dataclasses.replace(rules, classifier_threshold=new)
            except ConfigError:
                raise friendly from None

        before, after = await self._update(call, change)
        text = (
            f"Classifier threshold for this server: now {self._short(after.classifier_threshold)}, "
            f"was {self._short(before.classifier_threshold)}. Messages scoring at or above it "
            "are blocked."
        )
        settings = self._defaults
        if not (settings.enabled and settings.classifier_enabled):
            text += " Note: the classifier is switched off on this bot, so this has no effect."
        return Reply(text=text, ephemeral=True)

    @_mod(
        "mod log",
        description="Post a summary of every block and flag in this channel, or stop.",
        examples=("/mod log here", "/mod log off"),
    )
    async def mod_log(
        self,
        call: Call,
        where: Annotated[Literal["here", "off"], Param("here: this channel; off: none")],
    ) -> Reply:
        channel = call.channel.channel_id if where == "here" else None
        await self._update(
            call, lambda rules: dataclasses.replace(rules, mod_log_channel_id=channel)
        )
        if channel is None:
            return Reply(text="This server no longer has a mod-log channel.", ephemeral=True)
        return Reply(
            text="Blocks and flags in this server will be summarised in this channel "
            "(who, where, which rule; never the message itself).",
            ephemeral=True,
        )

    # -- categories, length, reset ---------------------------------------------------------
    @_mod(
        "mod category",
        description="Block, only flag, or reset how a category is handled here.",
        examples=(
            "/mod category profanity flag",
            "/mod category invite block",
            "/mod category offensive default",
        ),
    )
    async def category(
        self,
        call: Call,
        name: Annotated[TunableCategory, Param("Which category")],
        handling: Annotated[
            Literal["block", "flag", "default"],
            Param("block: always block; flag: only flag; default"),
        ],
    ) -> Reply:
        def change(rules: GuildRules) -> GuildRules:
            block = tuple(c for c in rules.block_categories if c != name)
            flag = tuple(c for c in rules.flag_only_categories if c != name)
            if handling == "block":
                block = (*block, name)
            elif handling == "flag":
                flag = (*flag, name)
            return dataclasses.replace(rules, block_categories=block, flag_only_categories=flag)

        await self._update(call, change)
        meaning = {
            "block": "are now always blocked",
            "flag": "are now only flagged (posted, and recorded for moderators)",
            "default": "are handled as the bot does by default again",
        }[handling]
        return Reply(
            text=f"Messages caught as {_code(Category(name).value)} {meaning} in this server.",
            ephemeral=True,
        )

    @_mod(
        "mod maxlength",
        description="Block messages longer than this many characters, or default.",
        examples=("/mod maxlength 1000", "/mod maxlength default"),
    )
    async def max_length(
        self, call: Call, value: Annotated[str, Param("Characters (at least 1), or 'default'")]
    ) -> Reply:
        ceiling = self._defaults.max_input_length
        typed = value.strip().lower()
        new: int | None = None
        if typed not in _RESET_WORDS:
            if not typed.isdigit() or not 1 <= int(typed) <= ceiling:
                raise UsageError(
                    f"The limit must be a whole number from 1 to {ceiling} (the "
                    "bot's own limit), or `default`.",
                    usage="/mod maxlength <value>",
                )
            new = int(typed)
        await self._update(call, lambda rules: dataclasses.replace(rules, max_length=new))
        shown = f"{new} characters" if new is not None else f"the bot default ({ceiling})"
        return Reply(text=f"Longest message accepted in this server: {shown}.", ephemeral=True)

    @_mod(
        "mod reset",
        description="Clear all of this server's moderation rules (back to defaults).",
        examples=("/mod reset confirm",),
    )
    async def reset(
        self,
        call: Call,
        confirm: Annotated[Literal["confirm"], Param("Type confirm: this cannot be undone")],
    ) -> Reply:
        try:
            await self._rules.reset(self._guild(call))
        except ConfigError as exc:
            raise UsageError(f"That change was not saved: {exc}.") from None
        return Reply(
            text="This server's moderation rules are back to the bot's defaults: no own "
            "words, allowed words, regex rules, threshold, category changes, length "
            "limit or mod-log channel.",
            ephemeral=True,
        )

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _guild(call: Call) -> str:
        guild = call.channel.guild_id
        if guild is None:  # the router enforces guild_only; this keeps the types honest
            raise UsageError("Moderation rules belong to a server; use this in a server channel.")
        return guild

    async def _load(self, call: Call) -> GuildRules:
        try:
            return await self._rules.load(self._guild(call))
        except ConfigError as exc:
            raise UsageError(
                f"This server's stored moderation rules cannot be read ({exc}); the "
                "defaults apply until they are fixed. `/mod reset confirm` clears "
                "them."
            ) from None

    async def _update(
        self, call: Call, change: Callable[[GuildRules], GuildRules]
    ) -> tuple[GuildRules, GuildRules]:
        try:
            return await self._rules.update(self._guild(call), change)
        except ConfigError as exc:
            raise UsageError(f"That change was not saved: {exc}.") from None

    def _threshold(self, value: float | None) -> str:
        default = self._defaults.classifier_block_threshold
        if value is None:
            return f"bot default ({default:g})"
        return f"{value:g} (bot default {default:g})"

    def _short(self, value: float | None) -> str:
        default = self._defaults.classifier_block_threshold
        return f"the bot default ({default:g})" if value is None else f"{value:g}"

    @staticmethod
    def _channel(call: Call, channel_id: str | None) -> str:
        if channel_id is None:
            return "none (`/mod log here` sets one)"
        return "this channel" if channel_id == call.channel.channel_id else f"channel {channel_id}"
