import pytest

from bot.errors import ConfigError
from bot.moderation import Action, GuildRules, Verdict


def test_combine_most_severe_wins_and_merges_categories() -> None:
    verdict = Verdict.combine(
        [
            Verdict.allow(0.2),
            Verdict(Action.FLAG, ("offensive",), 0.8, "score", "classifier"),
            Verdict(Action.BLOCK, ("slur",), 1.0, "word", "keyword:builtin"),
            Verdict(Action.BLOCK, ("custom",), 1.0, "regex", "regex:0"),
        ]
    )
    assert verdict.blocked and not verdict.flagged
    assert verdict.categories == ("slur", "custom")
    assert verdict.rule == "keyword:builtin"
    assert verdict.score == 1.0


def test_combine_of_nothing_allows() -> None:
    assert Verdict.combine([]).allowed


def test_guild_rules_round_trip_through_json() -> None:
    rules = GuildRules(
        custom_words=("grape*",),
        allow_words=("class",),
        regex_rules=(r"\bfoo\b",),
        classifier_threshold=0.7,
        block_categories=("personal_data",),
        mod_log_channel_id="42",
    )
    assert GuildRules.from_json(rules.to_json()) == rules
    assert rules.to_dict()["custom_words"] == ["grape*"]


@pytest.mark.parametrize(
    "data",
    [
        {"custom_word": ["x"]},
        {"custom_words": "x"},
        {"classifier_threshold": 1.5},
        {"max_length": 0},
    ],
)
def test_bad_guild_rules_raise_config_error(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GuildRules.from_dict(data)
