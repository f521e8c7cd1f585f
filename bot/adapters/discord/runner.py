"""``storyloom run``: start the app and the Discord bot, stop them cleanly.

While it runs, ``/healthz`` (``[metrics]``) also reports the gateway connection under
``discord``: healthy while connected, and for :data:`RECONNECT_GRACE_S` after a drop (discord.py
reconnects by itself); the heartbeat file says the same for setups without the metrics port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.adapters.discord.adapter import DiscordAdapter, build_discord_bot
from bot.errors import ConfigError, PlatformUnavailable
from bot.logs import RedactSecrets

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "discord-heartbeat"
HEARTBEAT_EVERY_S = 30.0
RECONNECT_GRACE_S = 120.0
"""How long a lost gateway connection may take to come back before the bot counts as unhealthy."""

INVALID_TOKEN = (
    "Discord rejected the bot token. Copy a fresh one from the developer portal (your application "
    "-> Bot -> Reset Token) into STORYLOOM_DISCORD__TOKEN or [discord] token, and make sure it is "
    "the bot token, not the client secret."
)
PRIVILEGED_INTENTS = (
    "Discord refused the Message Content intent. Enable it in the developer portal (your "
    "application -> Bot -> Privileged Gateway Intents -> Message Content Intent -> Save), or set "
    "[discord] message_content_intent = false (prefix commands then only work by mentioning the "
    "bot; slash commands and buttons are unaffected)."
)


@contextmanager
def redact_in_logs(secret: str) -> Iterator[None]:
    """Redact ``secret`` from every log record created while the block runs (any logger, any
    handler), on top of the handler filter that the CLI installs."""
    redactor = RedactSecrets([secret])
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def heartbeat_path(settings: Settings) -> Path:
    """Where the bot writes its liveness stamp (read by the Docker HEALTHCHECK)."""
    return settings.data_dir / HEARTBEAT_FILE


class Liveness:
    """Whether the bot is connected to Discord's gateway (every shard's socket open), with a
    grace period for reconnecting; :meth:`check` is a ``/healthz`` check."""

    def __init__(
        self,
        bot: discord.Client,
        *,
        grace_s: float = RECONNECT_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._grace_s = grace_s
        self._clock = clock
        self._last_connected: float | None = None

    def connected(self) -> bool:
        bot = self._bot
        if not bot.is_ready() or bot.is_closed():
            return False
        if isinstance(bot, discord.AutoShardedClient):
            return bool(bot.shards) and not any(s.is_closed() for s in bot.shards.values())
        socket = getattr(bot, "ws", None)
        return socket is not None and bool(socket.open)

    def check(self) -> tuple[bool, str]:
        now = self._clock()
        if self.connected():
            self._last_connected = now
            return True, "connected"
        if self._last_connected is None:
            return False, "connecting"
        gone = now - self._last_connected
        return gone <= self._grace_s, f"reconnecting (connection lost {gone:.0f}s ago)"


async def _heartbeat(bot: discord.Client, path: Path) -> None:
    while True:
        if bot.is_ready() and not bot.is_closed():
            try:
                await asyncio.to_thread(path.write_text, f"{time.time():.0f}\n", encoding="utf-8")
            except OSError as exc:
                log.warning("could not write the heartbeat file %s: %s", path, exc)
        await asyncio.sleep(HEARTBEAT_EVERY_S)


async def run_discord(settings: Settings) -> None:
    """Run storyloom on Discord until SIGINT/SIGTERM (or cancellation).

    Raises :class:`~bot.errors.ConfigError` with a clear message (never the token) when the token
    is missing or rejected, or when the Message Content intent is required but not enabled.
    Shutdown: stop accepting events, drain the router, close the bot, then the app.
    """
    token = settings.discord.require_token()
    from bot.app import App

    with redact_in_logs(token):
        app = await App.create(settings)
        adapter: DiscordAdapter | None = None
        bot: discord.Client | None = None
        connection: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        installed: list[signal.Signals] = []
        try:
            bot = build_discord_bot(app, settings)
            adapter = bot.storyloom
            if app.metrics_server is not None:
                app.metrics_server.add_check("discord", Liveness(bot).check)
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):
                    pass
            connection = asyncio.create_task(
                bot.start(token, reconnect=True), name="discord-connection"
            )
            await _serve(bot, connection, stop, heartbeat_path(settings))
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            if adapter is not None:
                await adapter.shutdown()
            if bot is not None:
                await bot.close()
            if connection is not None and not connection.done():
                with suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(connection, timeout=10.0)
            await app.close()
            log.info("storyloom stopped")


async def _serve(
    bot: discord.Client, connection: asyncio.Task[None], stop: asyncio.Event, heartbeat: Path
) -> None:
    """Wait for a stop signal or the end of the connection; turn login problems into
    ConfigErrors that say what to do."""
    stopping = asyncio.create_task(stop.wait(), name="discord-stop-signal")
    beating = asyncio.create_task(_heartbeat(bot, heartbeat), name="discord-heartbeat")
    try:
        done, _ = await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connection in done:
            try:
                connection.result()
            except discord.LoginFailure:
                raise ConfigError(INVALID_TOKEN) from None
            except discord.PrivilegedIntentsRequired:
                raise ConfigError(PRIVILEGED_INTENTS) from None
            except (aiohttp.ClientError, OSError, discord.HTTPException) as exc:
                raise PlatformUnavailable(
                    f"Could not connect to Discord ({type(exc).__name__}). Check the network "
                    "and https://discordstatus.com, then start again."
                ) from None
        else:
            log.info("shutting down (signal received)")
    finally:
        for task in (stopping, beating):
            task.cancel()
        with suppress(asyncio.CancelledError):
            await beating
        with suppress(OSError):
            await asyncio.to_thread(heartbeat.unlink, missing_ok=True)
