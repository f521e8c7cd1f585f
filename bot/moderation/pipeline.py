"""The moderation pipeline: every filter over one text, the most severe verdict wins."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from bot.moderation import mentions
from bot.moderation.audit import AuditSink
from bot.moderation.keywords import (
    allow_list,
    builtin_keywords,
    custom_keywords,
    normalize_entry,
)
from bot.moderation.normalize import NormalizedText, normalize, squeeze
from bot.moderation.personal_data import find_personal_data
from bot.moderation.regex_rules import first_match
from bot.moderation.scoring import TextScorer, load_classifier
from bot.moderation.settings import ModerationSettings
from bot.moderation.types import (
    Action,
    AuditEvent,
    Category,
    Direction,
    GuildRules,
    ModerationContext,
    Verdict,
)

log = logging.getLogger(__name__)

# Categories an NSFW channel lets through (slurs, personal data etc. stay blocked everywhere).
NSFW_ALLOWED = frozenset({Category.PROFANITY, Category.SEXUAL})


@runtime_checkable
class RulesProvider(Protocol):
    """Looks up a guild's rules (storage implements it over the per-guild settings table)."""

    async def rules_for(self, guild_id: str | None) -> GuildRules: ...


class StaticRulesProvider:
    """Rules from a fixed mapping; ``default`` for guilds not in it (CLI, tests)."""

    def __init__(
        self, rules: Mapping[str, GuildRules] | None = None, default: GuildRules | None = None
    ) -> None:
        self._rules = dict(rules or {})
        self._default = default or GuildRules()

    async def rules_for(self, guild_id: str | None) -> GuildRules:
        return self._rules.get(guild_id or "", self._default)


_NO_RULES = GuildRules()


class ModerationPipeline:
    """Runs normalisation, keyword, custom-word, regex, personal-data, mention, classifier and
    length filters over a text and records blocks and flags to the audit sink.

    ``check`` is what the router calls for user input and for every model output (streamed
    partial texts included); ``check_sync`` is the same without rules lookup or auditing.
    """

    def __init__(
        self,
        settings: ModerationSettings,
        *,
        rules_provider: RulesProvider | None = None,
        audit: AuditSink | None = None,
        classifier: TextScorer | None = None,
        observer: Callable[[Verdict, ModerationContext], None] | None = None,
    ) -> None:
        self.settings = settings
        self._rules = rules_provider
        self._audit = audit
        self._classifier = classifier if settings.classifier_enabled else None
        self.observer = observer
        """Told every recorded verdict (allow included) of :meth:`check` (metrics)."""
        if classifier is None and settings.enabled and settings.classifier_enabled:
            self._classifier = load_classifier(settings.classifier_path)
        builtin_keywords()  # compile the word list now, not on the first message

    async def rules_for(self, guild_id: str | None) -> GuildRules:
        """The rules that apply in ``guild_id`` (defaults without a provider)."""
        if self._rules is None:
            return _NO_RULES
        return await self._rules.rules_for(guild_id)

    async def words_to_suppress(self, ctx: ModerationContext) -> tuple[str, ...]:
        """The word entries that would block model output in ``ctx``: the built-in list's
        (less the categories an NSFW channel allows or the guild only flags) and the guild's
        custom words, less those an allowed word contains. Generation keeps them out of
        sampling (``SamplingParams.banned_words``); every text is still checked here."""
        if not self.settings.enabled:
            return ()
        rules = await self.rules_for(ctx.guild_id)
        relaxed = set(rules.flag_only_categories) | (NSFW_ALLOWED if ctx.nsfw else set())
        words = [
            entry for category, entry in builtin_keywords().entries() if category not in relaxed
        ]
        if Category.CUSTOM not in relaxed:
            words += rules.custom_words
        allowed = [normalize_entry(a).strip("*").strip() for a in rules.allow_words]
        return tuple(
            word
            for word in dict.fromkeys(words)
            if not any(normalize_entry(word).strip("*").strip() in a for a in allowed)
        )

    async def check(self, text: str, ctx: ModerationContext, *, record: bool = True) -> Verdict:
        """Moderate ``text``; blocks and flags are written to the audit sink.

        Short texts are checked inline (about a millisecond) when the classifier can score them
        cheaply (the n-gram model, or the cascade's gate finding them clearly harmless); long
        texts, guilds with regex rules and texts the transformer must score (a few
        milliseconds) are checked on a worker thread so the event loop never waits. Pass
        ``record=False`` for streamed partial texts so one generation is audited once (check
        the final text with ``record=True``).
        """
        rules = await self.rules_for(ctx.guild_id)
        inline = None
        if not rules.regex_rules and len(text) <= self.settings.inline_max_chars:
            inline = self._check(text, ctx, rules, quick=True)
        verdict = (
            inline
            if inline is not None
            else await asyncio.to_thread(self.check_sync, text, ctx, rules)
        )
        if record and self.observer is not None:
            self.observer(verdict, ctx)
        if record and not verdict.allowed and self._audit is not None:
            event = AuditEvent(
                guild_id=ctx.guild_id,
                channel_id=ctx.channel_id,
                user_id=ctx.user_id,
                direction=ctx.direction,
                rule=verdict.rule,
                category=verdict.categories[0] if verdict.categories else "",
                action=verdict.action,
                score=verdict.score,
                text_length=len(text),
                text=text,
            )
            try:
                await self._audit.record(event)
            except Exception:  # the verdict stands even when the audit log is down
                log.exception("could not record moderation event (rule %s)", verdict.rule)
        return verdict

    def check_sync(
        self, text: str, ctx: ModerationContext, rules: GuildRules | None = None
    ) -> Verdict:
        """Moderate ``text`` with the given rules, without auditing (CPU only, thread-safe)."""
        verdict = self._check(text, ctx, rules or _NO_RULES, quick=False)
        assert verdict is not None
        return verdict

    def _check(
        self, text: str, ctx: ModerationContext, rules: GuildRules, *, quick: bool
    ) -> Verdict | None:
        """The verdict; with ``quick``, None when it needs the classifier's costly stage."""
        if not self.settings.enabled or not text:
            return Verdict.allow()
        length_verdict = self._length(text, ctx, rules)
        if length_verdict is not None:
            return self._apply_rules(length_verdict, rules)
        normalized = normalize(text)
        verdicts = [
            *self._keywords(normalized, rules),
            *self._regex(text, normalized, rules),
            *self._personal_data(text),
            *self._mentions(text, ctx, rules),
        ]
        verdicts = [self._apply_rules(self._relax(v, ctx), rules) for v in verdicts]
        if self._classifier is not None and not any(v.blocked for v in verdicts):
            classified = self._classify(normalized, rules, quick=quick)
            if classified is None:
                return None
            verdicts.append(self._apply_rules(self._relax(classified, ctx), rules))
        return Verdict.combine(verdicts)

    # -- filters -----------------------------------------------------------------------------

    def _length(self, text: str, ctx: ModerationContext, rules: GuildRules) -> Verdict | None:
        if ctx.direction is Direction.INPUT:  # a server limits what people send, not the model
            limit = self.settings.max_input_length
            if rules.max_length is not None:
                limit = min(limit, rules.max_length)
        else:
            limit = self.settings.max_output_length
        if len(text) <= limit:
            return None
        return Verdict(
            Action.BLOCK,
            (Category.LENGTH,),
            1.0,
            f"text is longer than {limit} characters",
            "length",
        )

    def _keywords(self, normalized: NormalizedText, rules: GuildRules) -> list[Verdict]:
        allowed = allow_list(rules.allow_words) if rules.allow_words else None
        verdicts = []
        for source, keywords in (
            ("builtin", builtin_keywords()),
            ("custom", custom_keywords(rules.custom_words)),
        ):
            for hit in keywords.find_normalized(normalized):
                if allowed is not None and allowed.exempts(hit, normalized.view(hit.view)):
                    continue
                verdicts.append(
                    Verdict(
                        Action.BLOCK,
                        (hit.category,),
                        1.0,
                        f"matched a {hit.category} word"
                        + (" (after joining split letters)" if hit.view != "plain" else ""),
                        f"keyword:{source}",
                    )
                )
                break  # one hit per word set is enough
        return verdicts

    def _regex(self, text: str, normalized: NormalizedText, rules: GuildRules) -> list[Verdict]:
        if not rules.regex_rules:
            return []
        outcome = first_match(
            rules.regex_rules, (text, normalized.plain), self.settings.regex_timeout_s
        )
        if outcome is None:
            return []
        if outcome.timed_out:
            return [
                Verdict(
                    Action.FLAG,
                    (Category.CUSTOM,),
                    0.0,
                    f"regex rule {outcome.index + 1} ran out of time",
                    f"regex:{outcome.index}:timeout",
                )
            ]
        return [
            Verdict(
                Action.BLOCK,
                (Category.CUSTOM,),
                1.0,
                f"matched server regex rule {outcome.index + 1}",
                f"regex:{outcome.index}",
            )
        ]

    def _personal_data(self, text: str) -> list[Verdict]:
        hits = find_personal_data(text)
        if not hits:
            return []
        secret = next((h for h in hits if h.secret), None)
        if secret is not None and self.settings.block_secrets:
            return [
                Verdict(
                    Action.BLOCK,
                    (Category.PERSONAL_DATA,),
                    1.0,
                    f"contains a secret ({secret.kind.replace('_', ' ')})",
                    f"personal_data:{secret.kind}",
                )
            ]
        kinds = ", ".join(dict.fromkeys(h.kind.replace("_", " ") for h in hits))
        return [
            Verdict(
                Action.FLAG,
                (Category.PERSONAL_DATA,),
                1.0,
                f"contains personal data ({kinds}); redact before storing or posting",
                f"personal_data:{hits[0].kind}",
            )
        ]

    def _mentions(self, text: str, ctx: ModerationContext, rules: GuildRules) -> list[Verdict]:
        verdicts = []
        if mentions.has_invite(text):
            verdicts.append(
                Verdict(
                    Action.BLOCK if rules.block_invites else Action.FLAG,
                    (Category.INVITE,),
                    1.0,
                    "contains a server invite link",
                    "invite",
                )
            )
        if ctx.direction is Direction.INPUT and mentions.has_mass_mention(text):
            verdicts.append(
                Verdict(
                    Action.FLAG, (Category.MENTION,), 1.0, "mentions @everyone/@here", "mention"
                )
            )
        return verdicts

    def _classify(
        self, normalized: NormalizedText, rules: GuildRules, *, quick: bool
    ) -> Verdict | None:
        assert self._classifier is not None
        view = squeeze(normalized.joined)
        score = (
            self._classifier.quick_score(view) if quick else self._classifier.score_normalized(view)
        )
        if score is None:
            return None
        block_at = (
            rules.classifier_threshold
            if rules.classifier_threshold is not None
            else self.settings.classifier_block_threshold
        )
        flag_at = min(self.settings.classifier_flag_threshold, block_at)
        if score >= block_at:
            action = Action.BLOCK
        elif score >= flag_at:
            action = Action.FLAG
        else:
            return Verdict.allow(score)
        return Verdict(
            action, (Category.OFFENSIVE,), score, f"classifier score {score:.2f}", "classifier"
        )

    # -- policy ------------------------------------------------------------------------------

    @staticmethod
    def _relax(verdict: Verdict, ctx: ModerationContext) -> Verdict:
        """NSFW channels allow profanity and sexual words and only flag classifier hits."""
        if not ctx.nsfw or verdict.allowed:
            return verdict
        if verdict.categories and all(c in NSFW_ALLOWED for c in verdict.categories):
            return Verdict.allow(verdict.score)
        if verdict.categories == (Category.OFFENSIVE,) and verdict.blocked:
            return Verdict(
                Action.FLAG, verdict.categories, verdict.score, verdict.reason, verdict.rule
            )
        return verdict

    @staticmethod
    def _apply_rules(verdict: Verdict, rules: GuildRules) -> Verdict:
        """A guild may turn flags of some categories into blocks, or blocks into flags."""
        if verdict.allowed or not verdict.categories:
            return verdict
        category = verdict.categories[0]
        if verdict.flagged and category in rules.block_categories:
            return Verdict(
                Action.BLOCK, verdict.categories, verdict.score, verdict.reason, verdict.rule
            )
        if verdict.blocked and category in rules.flag_only_categories:
            return Verdict(
                Action.FLAG, verdict.categories, verdict.score, verdict.reason, verdict.rule
            )
        return verdict
