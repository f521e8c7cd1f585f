from collections.abc import Callable

import pytest

from bot.moderation import (
    Action,
    AuditEvent,
    Direction,
    GuildRules,
    MemoryAuditSink,
    ModerationContext,
    ModerationPipeline,
    ModerationSettings,
    StaticRulesProvider,
    format_mod_log,
)
from bot.moderation.classifier import OffensiveClassifier

INPUT = ModerationContext(Direction.INPUT, guild_id="g1", channel_id="c1", user_id="u1")
OUTPUT = ModerationContext(Direction.OUTPUT, guild_id="g1", channel_id="c1")


@pytest.fixture(scope="module")
def classifier() -> OffensiveClassifier:
    return OffensiveClassifier.load()


@pytest.fixture
def make(classifier: OffensiveClassifier) -> Callable[..., ModerationPipeline]:
    def build(
        rules: GuildRules | None = None, audit: MemoryAuditSink | None = None, **settings: object
    ) -> ModerationPipeline:
        provider = StaticRulesProvider({"g1": rules}) if rules else None
        return ModerationPipeline(
            ModerationSettings(**settings),  # type: ignore[arg-type]
            rules_provider=provider,
            audit=audit,
            classifier=classifier,
        )

    return build


@pytest.mark.parametrize(
    "text",
    [
        "The knight slew the dragon.",
        "Kill the lights!",
        "What the hell is that?",
        "God save us all.",
        "The assassin from Scunthorpe ordered a cocktail.",
        "Dick Grayson leapt from the roof.",
    ],
)
def test_story_words_are_not_blocked(make: Callable[..., ModerationPipeline], text: str) -> None:
    assert not make().check_sync(text, INPUT).blocked


@pytest.mark.parametrize(
    "text", ["f.u.c.k you", "ѕһіт story", "you fuuuuuck", "a$$hole", "ｃｕｎｔ"]
)
def test_obfuscated_profanity_is_blocked(
    make: Callable[..., ModerationPipeline], text: str
) -> None:
    verdict = make().check_sync(text, INPUT)
    assert verdict.blocked and verdict.rule == "keyword:builtin"


async def test_blocks_and_flags_are_audited_without_text(
    make: Callable[..., ModerationPipeline],
) -> None:
    audit = MemoryAuditSink()
    pipeline = make(audit=audit)
    assert (await pipeline.check("shit happens", INPUT)).blocked
    assert (await pipeline.check("a lovely morning", INPUT)).allowed
    assert (await pipeline.check("mail me at bob@example.com", OUTPUT)).flagged
    assert (await pipeline.check("shit, a partial", OUTPUT, record=False)).blocked
    first, second = audit.events
    assert first == AuditEvent(
        guild_id="g1",
        channel_id="c1",
        user_id="u1",
        direction=Direction.INPUT,
        rule="keyword:builtin",
        category="profanity",
        action=Action.BLOCK,
        score=1.0,
        text_length=12,
        text="shit happens",
    )
    assert (second.direction, second.rule, second.category, second.action) == (
        Direction.OUTPUT,
        "personal_data:email",
        "personal_data",
        Action.FLAG,
    )
    assert second.user_id is None and second.text_length == 26
    assert "shit" not in repr(first)  # logging an event never logs the text
    summary = format_mod_log(audit.events[0])
    assert "Blocked input" in summary and "<@u1>" in summary and "shit" not in summary


async def test_failing_audit_sink_does_not_lose_the_verdict(
    make: Callable[..., ModerationPipeline],
) -> None:
    class BrokenSink:
        async def record(self, event: AuditEvent) -> None:
            raise OSError("database is down")

    pipeline = ModerationPipeline(ModerationSettings(classifier_enabled=False), audit=BrokenSink())
    assert (await pipeline.check("fuck", INPUT)).blocked


async def test_guild_custom_words_allow_list_and_regex(
    make: Callable[..., ModerationPipeline],
) -> None:
    rules = GuildRules(
        custom_words=("*grape*",),
        allow_words=("grapefruit", "*shit"),
        regex_rules=(r"dr[a4]gon\d+",),
    )
    pipeline = make(rules, classifier_enabled=False)
    assert (await pipeline.check("no grapes here", INPUT)).rule == "keyword:custom"
    assert (await pipeline.check("a grapefruit", INPUT)).allowed
    assert not (await pipeline.check("bullshit", INPUT)).blocked  # guild allowed it
    verdict = await pipeline.check("dragon42 attacks", INPUT)
    assert verdict.blocked and verdict.rule == "regex:0"


async def test_hostile_input_against_regex_rule_is_flagged_in_time(
    make: Callable[..., ModerationPipeline],
) -> None:
    pipeline = make(
        GuildRules(regex_rules=(r"(x+x+)+y",)), regex_timeout_s=0.02, max_input_length=10_000
    )
    verdict = await pipeline.check("x" * 5000, INPUT)
    assert verdict.flagged and verdict.rule == "regex:0:timeout"


def test_guild_threshold_controls_classifier_blocks(
    make: Callable[..., ModerationPipeline],
) -> None:
    text = "you are a stupid worthless idiot"
    strict = make().check_sync(text, INPUT, GuildRules(classifier_threshold=0.5))
    lenient = make().check_sync(text, INPUT, GuildRules(classifier_threshold=1.0))
    assert strict.blocked and strict.rule == "classifier"
    assert lenient.flagged and lenient.rule == "classifier"


def test_nsfw_channels_relax_profanity_but_not_slurs(
    make: Callable[..., ModerationPipeline],
) -> None:
    nsfw = ModerationContext(Direction.OUTPUT, nsfw=True)
    pipeline = make(classifier_enabled=False)
    assert pipeline.check_sync("fuck yes", nsfw).allowed
    assert pipeline.check_sync("fuck yes", OUTPUT).blocked
    assert pipeline.check_sync("n1gg3r", nsfw).blocked


def test_guild_can_change_category_severity(make: Callable[..., ModerationPipeline]) -> None:
    pipeline = make(classifier_enabled=False)
    email = "write to bob@example.com"
    assert pipeline.check_sync(email, INPUT).flagged
    assert pipeline.check_sync(
        email, INPUT, GuildRules(block_categories=("personal_data",))
    ).blocked
    assert pipeline.check_sync(
        "shit", INPUT, GuildRules(flag_only_categories=("profanity",))
    ).flagged


def test_secrets_invites_mentions_and_length(make: Callable[..., ModerationPipeline]) -> None:
    pipeline = make(classifier_enabled=False, max_input_length=50)
    assert pipeline.check_sync("my token is sk-abcdefghijklmnopqrstuvwxyz123456", INPUT).blocked
    assert pipeline.check_sync("join discord.gg/abc", INPUT).flagged
    assert pipeline.check_sync("join discord.gg/abc", INPUT, GuildRules(block_invites=True)).blocked
    assert pipeline.check_sync("@everyone look", INPUT).flagged
    too_long = pipeline.check_sync("a" * 51, INPUT)
    assert too_long.blocked and too_long.categories == ("length",)
    assert pipeline.check_sync("a" * 30, INPUT, GuildRules(max_length=20)).blocked


def test_disabled_moderation_allows_everything() -> None:
    pipeline = ModerationPipeline(ModerationSettings(enabled=False))
    assert pipeline.check_sync("fuck", INPUT).allowed
