import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.errors import ConfigError
from bot.moderation.cli import app, load_guild_rules, run_moderate
from bot.moderation.settings import ModerationSettings

SETTINGS = ModerationSettings(classifier_enabled=False)


def test_plain_and_json_lines_give_one_verdict_each() -> None:
    stdin = io.StringIO('the knight slew the dragon\n{"text": "f.u.c.k"}\n{not json\n')
    out = io.StringIO()
    blocked = run_moderate(stdin, out, settings=SETTINGS)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert blocked == 1
    assert [r["verdict"] for r in rows] == ["allow", "block", "allow"]
    assert rows[1]["categories"] == ["profanity"]
    assert set(rows[0]) == {"verdict", "categories", "score", "reason"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("rules.json", '{"custom_words": ["grape*"]}'),
        ("rules.toml", 'custom_words = ["grape*"]\n'),
        ("nested.toml", '[moderation]\ncustom_words = ["grape*"]\n'),
    ],
)
def test_guild_config_files(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    rules = load_guild_rules(path)
    out = io.StringIO()
    run_moderate(io.StringIO("grapefruit\n"), out, rules=rules, settings=SETTINGS)
    assert json.loads(out.getvalue())["verdict"] == "block"


def test_bad_guild_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"custom_words": "grape"}')
    with pytest.raises(ConfigError):
        load_guild_rules(path)


def test_typer_command_reads_stdin(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"custom_words": ["grape"]}')
    result = CliRunner().invoke(app, ["--guild-config", str(path)], input="grape\nhello there\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["verdict"] for line in result.output.splitlines()] == [
        "block",
        "allow",
    ]


def test_typer_command_reports_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text("[1, 2]")
    result = CliRunner().invoke(app, ["--guild-config", str(path)], input="x\n")
    assert result.exit_code == 2


async def test_async_stream_entry_point(tmp_path: Path) -> None:
    from bot.moderation.cli import moderate_stream

    path = tmp_path / "rules.toml"
    path.write_text('custom_words = ["grape"]\n')
    out = io.StringIO()
    blocked = await moderate_stream(
        SETTINGS, io.StringIO('grape\n{"text": "sunny day"}\n'), out, guild_config=path
    )
    assert blocked == 1
    assert [json.loads(line)["verdict"] for line in out.getvalue().splitlines()] == [
        "block",
        "allow",
    ]
