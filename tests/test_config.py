"""Settings: TOML file, then STORYLOOM_* variables, with clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.logs import REDACTED, RedactSecrets


def test_file_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "storyloom.toml"
    path.write_text(
        'data_dir = "/tmp/x"\n[router]\nuser_rate = 3\nprefixes = ["!"]\n'
        "[plugins.story]\nauto_continue_every = 4\n"
    )
    monkeypatch.setenv("STORYLOOM_ROUTER__USER_RATE", "5")
    settings = load_settings(path)
    assert settings.router.user_rate == 5, "env beats the file"
    assert settings.router.prefixes == ("!",)
    assert settings.plugins["story"]["auto_continue_every"] == 4
    assert settings.data_dir == Path("/tmp/x")


def test_invalid_settings_raise_readable_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYLOOM_ROUTER__USER_RATE", "lots")
    with pytest.raises(ConfigError, match=r"router\.user_rate"):
        load_settings()
    monkeypatch.delenv("STORYLOOM_ROUTER__USER_RATE")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown_section"):
        load_settings(unknown_section={"a": 1})


def test_discord_token_only_required_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("STORYLOOM_DISCORD__TOKEN", raising=False)
    settings = load_settings()
    with pytest.raises(ConfigError, match="STORYLOOM_DISCORD__TOKEN"):
        settings.discord.require_token()
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def.secret-token-value")
    settings = load_settings()
    assert settings.discord.require_token() == "abc.def.secret-token-value"
    assert "secret-token-value" not in repr(settings) and "secret-token-value" not in str(
        settings.model_dump()
    )


def test_token_is_redacted_from_logs() -> None:
    token = "MTIz.secret.TOKENVALUE"
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "login with %s failed", (token,), None
    )
    RedactSecrets([token]).filter(record)
    assert token not in record.getMessage() and REDACTED in record.getMessage()
    try:
        raise RuntimeError(f"bad token {token}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    RedactSecrets([token]).filter(record)
    assert token not in record.getMessage() and record.exc_info is None
