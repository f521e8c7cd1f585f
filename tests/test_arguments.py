"""Typed command arguments from text and from structured options."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pytest

from bot.arguments import bind_options, parse_text
from bot.errors import UsageError
from bot.plugin import Call, Param, Plugin, command


class Args(Plugin):
    name: ClassVar[str] = "args"

    @command("start", description="Start.")
    async def start(
        self,
        call: Call,
        premise: Annotated[str, Param("Premise", rest=True)],
        mode: Literal["free", "vote"] = "free",
        turns: Annotated[int, Param("Turns", min=1, max=10)] = 3,
    ) -> None:
        return None

    @command("roll", description="Roll.")
    async def roll(
        self,
        call: Call,
        count: int = 1,
        sides: Annotated[int, Param(min=2)] = 6,
        loud: bool = False,
        odds: float = 0.5,
    ) -> None:
        return None


SPECS = {c.path: c for c in Args.declarations().commands}


def test_rest_parameter_takes_the_line_and_options_by_name() -> None:
    spec = SPECS["start"]
    assert parse_text(spec, "A dragon  who hoards books") == {
        "premise": "A dragon  who hoards books",
        "mode": "free",
        "turns": 3,
    }
    assert parse_text(spec, "mode=vote turns=5 The sea, at night") == {
        "premise": "The sea, at night",
        "mode": "vote",
        "turns": 5,
    }


def test_positional_conversion_and_quoting() -> None:
    spec = SPECS["roll"]
    assert parse_text(spec, "2 20 yes 0.25") == {
        "count": 2,
        "sides": 20,
        "loud": True,
        "odds": 0.25,
    }
    assert parse_text(spec, "") == {"count": 1, "sides": 6, "loud": False, "odds": 0.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("two", "must be a whole number"),
        ("1 1", "at least 2"),
        ("1 6 maybe", "yes/no"),
        ("1 6 no nan", "must be a number"),
        ("1 6 no 0.1 extra", "Too many arguments"),
        ("sides=7 sides=8", "given twice"),
    ],
)
def test_bad_arguments_give_usage(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_text(SPECS["roll"], text)
    assert "Usage: `/roll" in info.value.user_message


def test_missing_required_and_bad_choice() -> None:
    with pytest.raises(UsageError, match="`premise` is missing"):
        parse_text(SPECS["start"], "")
    with pytest.raises(UsageError, match="one of `free`, `vote`"):
        parse_text(SPECS["start"], "mode=chaos x")
    with pytest.raises(UsageError, match="at most 10"):
        parse_text(SPECS["start"], "turns=99 x")


def test_structured_options_are_checked_too() -> None:
    spec = SPECS["roll"]
    assert bind_options(spec, {"count": 3, "loud": True}) == {
        "count": 3,
        "sides": 6,
        "loud": True,
        "odds": 0.5,
    }
    with pytest.raises(UsageError, match="Unknown option"):
        bind_options(spec, {"colour": "red"})
    with pytest.raises(UsageError, match="whole number"):
        bind_options(spec, {"count": True})
    with pytest.raises(UsageError, match="too long"):
        bind_options(SPECS["start"], {"premise": "x" * 100_000})
