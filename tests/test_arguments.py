"""Typed command arguments from text and from structured options."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pytest

from bot.arguments import bind_options, parse_text
from bot.errors import UsageError
from bot.plugin import Call, Param, Plugin, command
from bot.types import Upload


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


class Files(Plugin):
    name: ClassVar[str] = "files"

    @command("load", description="Load.")
    async def load(
        self,
        call: Call,
        note: Annotated[str, Param("Note", rest=True)] = "",
        file: Annotated[Upload | None, Param("The file")] = None,
    ) -> None:
        return None

    @command("pair", description="Two files.")
    async def pair(self, call: Call, first: Upload, second: Upload | None = None) -> None:
        return None


FILES = {c.path: c for c in Files.declarations().commands}


def test_file_parameters_take_the_message_attachments() -> None:
    tale, extra = Upload.of_bytes("tale.md", b"# Tale"), Upload.of_bytes("x.json", b"{}")
    load, pair = FILES["load"], FILES["pair"]
    assert [p.type_name for p in load.params] == ["text", "file"]
    assert parse_text(load, "for later", [tale]) == {"note": "for later", "file": tale}
    # A file cannot be typed: `file=...` is just text of the rest-of-line parameter.
    assert parse_text(load, "file=tale.md") == {"note": "file=tale.md", "file": None}
    assert parse_text(pair, "", [tale, extra]) == {"first": tale, "second": extra}
    with pytest.raises(UsageError, match="`first` is missing"):
        parse_text(pair, "")
    with pytest.raises(UsageError, match="takes 1 file"):
        parse_text(load, "", [tale, extra])
    # A command without file parameters ignores attachments (a picture sent with a turn).
    assert parse_text(SPECS["roll"], "2", [tale])["count"] == 2
    # Slash options: a file given as an option, or the attachments when it is not.
    assert bind_options(load, {"file": tale}) == {"note": "", "file": tale}
    assert bind_options(load, {}, [tale]) == {"note": "", "file": tale}
    with pytest.raises(UsageError, match="`file` must be a file"):
        bind_options(load, {"file": "tale.md"})
