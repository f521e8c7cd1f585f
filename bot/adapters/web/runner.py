"""``storyloom web``: start the app, serve the playground with uvicorn, shut down cleanly."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn

from bot.adapters.web.adapter import WebAdapter
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)


def server_for(adapter: WebAdapter) -> uvicorn.Server:
    """A uvicorn server for ``adapter`` with the WebSocket limits of ``[web]``, no compression
    (no decompression bombs) and our own logging (no access log: download links carry tokens).

    A message over ``web.max_frame_bytes`` gets an explanation from the adapter, then the
    connection is closed (1009); one over twice that is cut off by uvicorn before it is read."""
    web = adapter.web
    config = uvicorn.Config(
        adapter.asgi(),
        host=web.host,
        port=web.port,
        lifespan="off",
        ws="websockets-sansio",
        ws_max_size=2 * web.max_frame_bytes,
        ws_per_message_deflate=False,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return uvicorn.Server(config)


async def serve(
    adapter: WebAdapter, *, sockets: list[socket.socket] | None = None
) -> uvicorn.Server:
    """Serve until the server is told to exit (``server.should_exit``) or interrupted."""
    server = server_for(adapter)
    try:
        await server.serve(sockets=sockets)
    finally:
        await adapter.close()
    return server


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or ConfigError saying what to do
    when the address cannot be used. It listens at once, so a browser that opens the announced
    address while the app is still starting waits in the backlog instead of being refused."""
    sock: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Choose another address "
            "with --host/--port (or [web] host/port), or stop the program that uses it."
        ) from exc
    return sock


def url_of(sock: socket.socket) -> str:
    """The address a browser opens for a bound socket."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "localhost"  # every interface: this machine's own name works
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def run_web(settings: Settings, *, announce: Callable[[str], None] | None = None) -> None:
    """Load the app (model, database, plugins), serve rooms on ``web.host:web.port`` until
    interrupted, then finish in-flight work and close everything."""
    from bot.app import App

    sock = bind(settings.web.host, settings.web.port)
    try:
        app = await App.create(settings)
        try:
            adapter = WebAdapter(app, settings)
            if announce is not None:
                announce(url_of(sock))
            await serve(adapter, sockets=[sock])
        finally:
            await app.close()
    finally:
        sock.close()
