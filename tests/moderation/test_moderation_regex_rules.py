import pytest

from bot.errors import ConfigError
from bot.moderation.regex_rules import first_match, validate_rules


def test_rule_matches_case_insensitively() -> None:
    outcome = first_match((r"nothing", r"dr[a4]gon\s+slayer"), ("The DR4GON   Slayer",), 0.5)
    assert outcome is not None and outcome.index == 1 and not outcome.timed_out


def test_no_match_returns_none() -> None:
    assert first_match((r"\bgoblin\b",), ("hobgoblins",), 0.5) is None


def test_catastrophic_backtracking_is_cut_off() -> None:
    outcome = first_match((r"(x+x+)+y",), ("x" * 5000,), 0.05)
    assert outcome is not None and outcome.timed_out


def test_invalid_and_oversized_rules_are_rejected() -> None:
    with pytest.raises(ConfigError):
        validate_rules(("(unclosed",))
    with pytest.raises(ConfigError):
        validate_rules(("a" * 300,))
    with pytest.raises(ConfigError):
        validate_rules(tuple(f"w{i}" for i in range(11)))
