"""A real playground on a free local port: the App (bundled model, SQLite file in tmp_path),
the web adapter, uvicorn; clients that speak the room protocol over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bot.adapters.web import WebAdapter
from bot.adapters.web.rooms import new_secret
from bot.adapters.web.runner import bind, server_for, url_of
from bot.app import App
from bot.generation.types import StreamChunk
from tests.conftest import AppFactory

WAIT_S = 120.0  # an upper bound: a loaded 2-core machine can take a minute to start the app
"""Upper bound for any one wait on a loaded 2-core machine; waits end as soon as they can."""

STREAMING_STORY = {"story": {"best_of": 1, "stream": True}}
"""The story plugin streams its text when it writes one candidate (best-of-N posts it whole)."""


@dataclass(eq=False)
class Player:
    """One browser's worth of room protocol over a real WebSocket."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    seen: int = 0

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def say(self, text: str) -> None:
        await self.send(type="say", text=text)

    async def press(self, action: str) -> None:
        await self.send(type="press", action=action)

    async def next(
        self, match: Callable[[dict[str, Any]], bool], *, within: float = WAIT_S
    ) -> dict[str, Any]:
        """The first event from now on (past the last match) that ``match`` accepts."""
        deadline = time.monotonic() + within
        while True:
            while self.seen < len(self.events):
                event = self.events[self.seen]
                self.seen += 1
                if match(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event in {within}s; got {self.events[-5:]}")
            raw = await asyncio.wait_for(self.ws.recv(), left)
            self.events.append(json.loads(raw))

    async def message(self, *, bot: bool = True, contains: str = "") -> dict[str, Any]:
        """The next message (from the storyteller by default) containing ``contains``."""
        return await self.next(
            lambda e: (
                e["type"] == "message" and e["from"]["bot"] == bot and contains in e.get("text", "")
            )
        )

    async def settled(self, message_id: str) -> dict[str, Any]:
        """The last state of a message once it has its buttons (a finished story turn)."""
        text = next(e for e in self.events if e.get("id") == message_id)
        while not text.get("buttons"):
            text = await self.next(lambda e: e["type"] == "edit" and e["id"] == message_id)
        return text

    def private(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "message" and e["private"]]


@dataclass
class Playground:
    """A running web adapter and how to reach it."""

    app: App
    adapter: WebAdapter
    url: str
    http: httpx.AsyncClient
    players: list[Player] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    async def create_room(self, name: str = "Test room") -> dict[str, str]:
        response = await self.http.post(
            "/api/rooms", json={"name": name}, headers={"origin": self.origin}
        )
        assert response.status_code == 201, response.text
        data: dict[str, str] = response.json()
        return data

    async def open_socket(self, *, origin: str | None = None) -> ClientConnection:
        ws_url = self.url.replace("http://", "ws://") + "ws"
        return await connect(
            ws_url, origin=Origin(origin or self.origin), proxy=None, compression=None
        )

    async def join(
        self,
        room: str,
        name: str,
        *,
        admin: str | None = None,
        client: str | None = None,
    ) -> Player:
        """A player in ``room``, past the welcome."""
        player = Player(await self.open_socket())
        self.players.append(player)
        await player.send(
            type="join", room=room, name=name, client=client or new_secret(), admin=admin
        )
        welcome = await player.next(lambda e: e["type"] in ("welcome", "refused"))
        assert welcome["type"] == "welcome", welcome
        return player


PlaygroundFactory = Callable[..., Awaitable[Playground]]


class StreamGate:
    """Holds the next streamed generation part-way, so that a test can look at a text while it
    is still being written (on a busy machine a short text can otherwise arrive in one piece).

    The real service streams the real model's text; once it has a few words, the gate passes on
    just the first two (a smaller first chunk of the same text) and waits for :meth:`release`
    before the rest follows. Only the first stream after :meth:`install` is held.
    """

    def __init__(self, service: Any) -> None:
        self.paused = asyncio.Event()
        self._released = asyncio.Event()
        self._service = service
        self._armed = True

    def install(self) -> StreamGate:
        original = self._service.stream

        def stream(request: Any) -> Any:
            if not self._armed:
                return original(request)
            self._armed = False
            return self._hold(original(request))

        self._service.stream = stream
        return self

    def remove(self) -> None:
        del self._service.stream
        self._released.set()

    def release(self) -> None:
        self._released.set()

    async def wait_paused(self) -> None:
        await asyncio.wait_for(self.paused.wait(), WAIT_S)

    async def _hold(self, chunks: Any) -> Any:
        async with contextlib.aclosing(chunks) as source:
            async for chunk in source:
                words = chunk.text.split()
                if not self.paused.is_set() and not chunk.done and len(words) >= 3:
                    first = " ".join(words[:2]) + " "
                    yield StreamChunk(delta=first, text=first)
                    self.paused.set()  # the consumer has shown the first words by now
                    await self._released.wait()
                yield chunk


@pytest.fixture
async def make_playground(make_app: AppFactory) -> AsyncIterator[PlaygroundFactory]:
    """``await make_playground(**settings_overrides)`` serves a fresh app on a free port."""
    running: list[tuple[Any, asyncio.Task[None], Playground]] = []

    async def make(**overrides: Any) -> Playground:
        app = await make_app(**overrides)
        adapter = WebAdapter(app, app.settings)
        sock = bind("127.0.0.1", 0)
        server = server_for(adapter)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        deadline = time.monotonic() + WAIT_S
        while not server.started:  # uvicorn sets it once it accepts connections
            assert not task.done(), "the web server stopped while starting"
            assert time.monotonic() < deadline, "the web server did not start"
            await asyncio.sleep(0.01)
        url = url_of(sock)
        http = httpx.AsyncClient(base_url=url, trust_env=False, timeout=WAIT_S)
        playground = Playground(app, adapter, url, http)
        running.append((server, task, playground))
        return playground

    yield make
    for server, task, playground in running:
        for player in playground.players:
            await player.ws.close()
        await playground.http.aclose()
        await playground.adapter.close()
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


@pytest.fixture
async def playground(make_playground: PlaygroundFactory) -> Playground:
    return await make_playground(plugins=STREAMING_STORY)
