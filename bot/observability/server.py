"""``/metrics`` and ``/healthz`` of the bot process, served on its own event loop (aiohttp).

The server starts before the app loads its model, so ``/healthz`` answers ``503 starting``
while it loads, ``200 ready`` once the app is assembled and its database answers, and ``503``
again while the app shuts down or when the database stops answering. Adapters add their own
checks (:meth:`MetricsServer.add_check`: ``storyloom run`` adds its Discord connection).
Requests are handled on the bot's loop without blocking it: a scrape formats a few dozen series
(well under a millisecond) and the health check's ``SELECT 1`` is awaited with a time limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.errors import ConfigError, StorageError
from bot.observability.metrics import BotMetrics
from bot.observability.settings import MetricsSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_S = 2.0


class MetricsServer:
    """Serves one app's metrics and health on ``[metrics] host:port``."""

    def __init__(self, settings: MetricsSettings, metrics: BotMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._app: App | None = None
        self._state = "starting"
        self._runner: web.AppRunner | None = None
        self._checks: dict[str, Callable[[], tuple[bool, str]]] = {}
        self.port = settings.port
        """The port it listens on (the chosen one when the settings say 0)."""

    @property
    def serving(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Listen when ``[metrics] enabled`` is true; raises ConfigError (saying what to change)
        when the address is taken."""
        if not self._settings.enabled:
            return
        web_app = web.Application()
        web_app.router.add_get("/metrics", self._serve_metrics)
        web_app.router.add_get("/healthz", self._serve_health)
        runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"Cannot serve metrics on {self._settings.host}:{self._settings.port} "
                f"({exc.strerror or exc}). Set [metrics] port (STORYLOOM_METRICS__PORT) to a free "
                "port, or [metrics] enabled = false."
            ) from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("metrics and health on http://%s:%d/metrics", self._settings.host, self.port)

    def ready(self, app: App) -> None:
        """The app is assembled: ``/healthz`` now checks it."""
        self._app, self._state = app, "ready"

    def add_check(self, name: str, check: Callable[[], tuple[bool, str]]) -> Callable[[], None]:
        """Also require ``check() -> (ok, detail)`` (cheap, non-blocking) for ``/healthz``; its
        detail is reported under ``name``. Returns the function that removes it."""
        self._checks[name] = check

        def remove() -> None:
            self._checks.pop(name, None)

        return remove

    def stopping(self) -> None:
        """The app is shutting down: ``/healthz`` answers 503 from now on."""
        self._state = "stopping"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def health(self) -> tuple[bool, dict[str, object]]:
        """(healthy, details): the model is loaded and the database answers within 2 s."""
        app = self._app
        if self._state != "ready" or app is None:
            return False, {"status": self._state}
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                await app.store.db.ping()
            database = "ok"
        except (StorageError, TimeoutError) as exc:
            database = f"unreachable ({type(exc).__name__})"
        healthy = database == "ok"
        details: dict[str, object] = {"model": app.generation.model_name, "database": database}
        for name, check in list(self._checks.items()):
            ok, details[name] = check()
            healthy = healthy and ok
        return healthy, {"status": "ready" if healthy else "unhealthy", **details}

    async def _serve_health(self, _request: web.Request) -> web.Response:
        healthy, details = await self.health()
        return web.json_response(details, status=200 if healthy else 503)

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        body, content_type = self._metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
