"""``storyloom run``: token handling, clear errors, graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.adapters.discord import health, run_discord
from bot.adapters.discord.runner import HEARTBEAT_FILE, heartbeat_path, redact_in_logs
from bot.errors import ConfigError

TOKEN = "MTA1NjEyMzQ1Njc4OTAxMjM0NQ.GabcDE.very-secret-token-value-1234567890"


def settings_with_token(make_settings: Any, **extra: Any) -> Any:
    return make_settings(discord={"token": TOKEN, **extra})


async def test_missing_token_is_a_clear_config_error(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match="No Discord bot token"):
        await run_discord(make_settings())


async def test_rejected_token_is_explained_and_never_shown(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[bool] = []

    async def login(self: discord.Client, token: str) -> None:
        logging.getLogger("discord.http").warning("login with %s failed", token)
        raise discord.LoginFailure("Improper token has been passed.")

    original_close = discord.Client.close

    async def close(self: discord.Client) -> None:
        closed.append(True)
        await original_close(self)

    monkeypatch.setattr(discord.Client, "login", login)
    monkeypatch.setattr(discord.Client, "close", close)
    caplog.set_level(logging.INFO)
    with pytest.raises(ConfigError) as raised:
        await run_discord(settings_with_token(make_settings))
    message = str(raised.value)
    assert "rejected the bot token" in message and "Reset Token" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert TOKEN not in message
    assert "login with [redacted] failed" in caplog.text
    assert TOKEN not in caplog.text
    assert closed == [True]


async def test_missing_privileged_intent_says_where_to_enable_it(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def start(self: discord.Client, token: str, *, reconnect: bool = True) -> None:
        raise discord.PrivilegedIntentsRequired(shard_id=None)

    monkeypatch.setattr(discord.Client, "start", start)
    with pytest.raises(ConfigError, match="Message Content Intent"):
        await run_discord(settings_with_token(make_settings))


async def test_sigterm_drains_and_closes_everything(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with_token(make_settings)
    seen: dict[str, Any] = {}

    async def start(self: discord.Client, token: str, *, reconnect: bool = True) -> None:
        seen["bot"] = self
        await self._async_setup_hook()  # what login() does first
        self._ready.set()  # type: ignore[attr-defined]  # as if connected
        heartbeat = heartbeat_path(settings)
        while not heartbeat.exists():  # noqa: ASYNC110 - a file written by another task
            await asyncio.sleep(0.01)
        seen["heartbeat"] = heartbeat.read_text()
        os.kill(os.getpid(), signal.SIGTERM)
        while not self.is_closed():  # noqa: ASYNC110 - the gateway loop ends when closed
            await asyncio.sleep(0.01)

    monkeypatch.setattr(discord.Client, "start", start)
    await run_discord(settings)
    bot = seen["bot"]
    assert bot.is_closed()
    assert bot.storyloom.closing  # stopped accepting events
    assert float(seen["heartbeat"]) > 0
    assert not heartbeat_path(settings).exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_redaction_covers_every_logger_and_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with redact_in_logs(TOKEN):
        logging.getLogger("discord.gateway").debug("identify payload %s", {"token": TOKEN})
        try:
            raise RuntimeError(f"bad header Bot {TOKEN}")
        except RuntimeError:
            logging.getLogger("aiohttp.client").exception("request failed")
    logging.getLogger("after").info("not %s", "redacted")
    assert TOKEN not in caplog.text
    assert caplog.text.count("[redacted]") >= 2
    assert "not redacted" in caplog.text


def test_health_check_reads_the_heartbeat(tmp_path: Path) -> None:
    assert health.main(["--data-dir", str(tmp_path)]) == 1
    beat = tmp_path / HEARTBEAT_FILE
    beat.write_text("1\n")
    assert health.main(["--data-dir", str(tmp_path), "--max-age", "3600"]) == 0
    ok, why = health.check(tmp_path, 60.0, now=beat.stat().st_mtime + 120)
    assert not ok and "120s ago" in why
