"""The installed `storyloom` command, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STORYLOOM = [sys.executable, "-m", "bot.cli"]


def _run(
    args: list[str], tmp_path: Path, stdin: str = "", timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STORYLOOM_DATA_DIR": str(tmp_path / "data"),
        "STORYLOOM_LOGGING__LEVEL": "WARNING",
    }
    env.pop("DISCORD_TOKEN", None)
    env.pop("STORYLOOM_DISCORD__TOKEN", None)
    return subprocess.run(
        STORYLOOM + args,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_help_and_version(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0
    for word in ("play", "run", "serve-model", "moderate", "migrate", "export", "version"):
        assert word in result.stdout
    assert "storyloom" in _run(["version"], tmp_path).stdout


def test_run_without_token_says_what_to_do(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path)
    assert result.returncode == 2
    assert "STORYLOOM_DISCORD__TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_play_jsonl_several_users_start_a_story(tmp_path: Path) -> None:
    script = (
        "\n".join(
            json.dumps(line)
            for line in [
                {"user": "ann", "text": "/story start A shy dragon wants to learn to read."},
                {"user": "bo", "text": "The dragon found a book in the old library."},
                {"user": "ann", "text": "/story continue"},
                "not json",
            ]
        )
        + "\n"
    )
    result = _run(["play", "--jsonl"], tmp_path, stdin=script)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["kind"] for r in records} <= {"message", "edit", "notice", "error"}
    assert any(r["kind"] == "error" and r["reply_to"] == "in-4" for r in records)
    continued = [r for r in records if r["reply_to"] == "in-3" and r["kind"] in ("message", "edit")]
    assert continued, records
    final = continued[-1]["text"]
    assert len(final.split()) >= 3, final
    assert "Traceback" not in result.stdout


def test_privacy_forget_me_and_forget_user(tmp_path: Path) -> None:
    """A player deletes their own data from chat (confirmed); an operator deletes another's
    from the command line; everyone else's turns stay."""

    def line(user: str, text: str) -> str:
        return json.dumps({"user": user, "channel": "tale", "text": text})

    script = "\n".join(
        [
            line("ann", "/story start A fox and a silver key"),
            line("ann", "/story add Ann's secret turn about the fox."),
            line("bob", "/story add Bob's turn about the key."),
            line("cy", "/story add Cy's turn about the river."),
            line("ann", "/privacy forget-me"),
            line("ann", "/privacy forget-me confirm"),
            line("dee", "/story show"),
        ]
    )
    result = _run(["play", "--jsonl"], tmp_path, stdin=script + "\n")
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(raw) for raw in result.stdout.splitlines()]
    refused = [r for r in records if r["reply_to"] == "in-5"]
    assert refused and refused[0]["kind"] in ("notice", "error") and "confirm" in refused[0]["text"]
    done = next(r for r in records if r["reply_to"] == "in-6")
    assert done["kind"] == "notice" and "what you wrote is gone" in done["text"]
    shown = " ".join(r["text"] for r in records if r["reply_to"] == "in-7")
    assert "Ann's secret" not in shown and "Bob's turn" in shown and "Cy's turn" in shown

    refused_cli = _run(["forget-user", "u-bob"], tmp_path, stdin="n\n")
    assert refused_cli.returncode != 0
    forgot = _run(["forget-user", "u-bob", "--yes"], tmp_path)
    assert forgot.returncode == 0, forgot.stderr[-2000:]
    assert "items deleted or anonymised" in forgot.stdout and "1 story turns" in forgot.stdout
    assert "user data deleted by an operator" in forgot.stderr  # the audit line ...
    assert "u-bob" not in forgot.stderr  # ... names a hash, not the id
    shown = _run(["play", "--jsonl"], tmp_path, stdin=line("dee", "/story show") + "\n").stdout
    assert "Bob's turn" not in shown and "Cy's turn" in shown
