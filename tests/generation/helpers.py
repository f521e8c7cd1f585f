"""Helpers the generation tests share: waiting for state, serving an app on loopback, and a gate
that holds requests at a real server until the test lets them through."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds: state that another thread, task or server changes and
    that offers nothing to await (the test's timeout bounds the wait)."""
    while not condition():  # noqa: ASYNC110 - polled: nothing to await for this state
        await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its ``/v1`` URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        await task


class Gate:
    """ASGI middleware: POSTs wait at the gate until ``open`` is set, then reach the real server
    behind it (a generation that is running for as long as the test needs)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = asyncio.Event()
        self.waiting = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.waiting += 1
            await self.open.wait()
            self.waiting -= 1
        await self.app(scope, receive, send)
