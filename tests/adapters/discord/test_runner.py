"""``storyloom run``: token handling, clear errors, graceful shutdown on SIGTERM, and the health
check that the Docker image runs (``/healthz`` with the gateway connection, else the heartbeat)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.adapters.discord import health, run_discord
from bot.adapters.discord.runner import HEARTBEAT_FILE, Liveness, heartbeat_path, redact_in_logs
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


def test_health_check_reads_the_heartbeat_when_no_port_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("STORYLOOM_METRICS__PORT", str(free_port))
    monkeypatch.setenv("STORYLOOM_WEB__PORT", str(free_port))
    assert health.main(["--data-dir", str(tmp_path)]) == 1
    beat = tmp_path / HEARTBEAT_FILE
    beat.write_text("1\n")
    assert health.main(["--data-dir", str(tmp_path), "--max-age", "3600"]) == 0
    ok, why = health.check(tmp_path, 60.0, now=beat.stat().st_mtime + 120)
    assert not ok and "120s ago" in why


class Gateway:
    """The gateway websocket's state as discord.py reads it (Discord cannot be reached here)."""

    def __init__(self) -> None:
        self.open = True

    async def close(self, code: int = 1000) -> None:
        self.open = False


async def test_liveness_follows_the_gateway_with_a_grace_for_reconnects() -> None:
    bot = discord.Client(intents=discord.Intents.none())
    now = [100.0]
    live = Liveness(bot, grace_s=120.0, clock=lambda: now[0])
    try:
        await bot._async_setup_hook()  # what login() does first
        assert live.check() == (False, "connecting")
        bot._ready.set()  # type: ignore[attr-defined]  # READY arrived
        socket = Gateway()
        bot.ws = socket  # type: ignore[assignment]
        assert live.check() == (True, "connected")
        socket.open = False  # the connection dropped; discord.py reconnects by itself
        now[0] += 90
        assert live.check() == (True, "reconnecting (connection lost 90s ago)")
        now[0] += 31
        assert live.check() == (False, "reconnecting (connection lost 121s ago)")
        socket.open = True
        assert live.check() == (True, "connected")
    finally:
        await bot.close()


async def test_the_image_health_check_asks_healthz_of_the_running_bot(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, free_port: int, tmp_path: Path
) -> None:
    """``storyloom run`` with [metrics] on: the probe (the image's HEALTHCHECK) reads /healthz,
    which follows the gateway connection; the bot is never really connected (no Discord)."""
    settings = settings_with_token(make_settings)
    settings.metrics.enabled, settings.metrics.port = True, free_port
    monkeypatch.setenv("STORYLOOM_METRICS__PORT", str(free_port))
    monkeypatch.setenv("STORYLOOM_DATA_DIR", str(tmp_path))  # no heartbeat there
    seen: dict[str, Any] = {}

    async def start(self: discord.Client, token: str, *, reconnect: bool = True) -> None:
        await self._async_setup_hook()
        seen["connecting"] = await asyncio.to_thread(health.main, [])
        seen["connecting body"] = await asyncio.to_thread(health.probe, "0.0.0.0", free_port)
        self._ready.set()  # type: ignore[attr-defined]
        self.ws = Gateway()  # type: ignore[assignment]
        seen["connected"] = await asyncio.to_thread(health.main, [])
        seen["connected body"] = await asyncio.to_thread(health.probe, "127.0.0.1", free_port)
        os.kill(os.getpid(), signal.SIGTERM)
        while not self.is_closed():  # noqa: ASYNC110 - the gateway loop ends when closed
            await asyncio.sleep(0.01)

    monkeypatch.setattr(discord.Client, "start", start)
    await run_discord(settings)
    status, body = seen["connecting body"]
    assert seen["connecting"] == 1 and status == 503
    assert json.loads(body)["discord"] == "connecting"
    status, body = seen["connected body"]
    assert seen["connected"] == 0 and status == 200
    assert json.loads(body) | {"model": "-"} == {
        "status": "ready",
        "model": "-",
        "database": "ok",
        "discord": "connected",
    }
