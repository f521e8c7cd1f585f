"""/healthz over HTTP: 503 while the app starts, 200 once it is ready, 503 while it shuts down
and while its database refuses connections (a real PostgreSQL role that loses its login)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

import pytest

from bot.adapters.console import RecordingResponder
from bot.app import App
from bot.config import Settings
from bot.plugin import Call, Param, Plugin, command
from bot.types import Author, ChannelRef, Incoming
from tests.observability.helpers import health, scrape, value
from tests.storage.conftest import PG_URL, _pg_admin


class Gate(Plugin):
    """Holds the app's start-up (setup) and one command until the test opens the gates."""

    name: ClassVar[str] = "gate"
    description: ClassVar[str] = "Waits for the test."
    started: ClassVar[asyncio.Event]
    entered: ClassVar[asyncio.Event]
    finish: ClassVar[asyncio.Event]

    async def setup(self) -> None:
        await Gate.started.wait()

    @command("wait", description="Answers when the test says so.")
    async def wait(self, call: Call, text: Annotated[str, Param("Text", rest=True)] = "") -> str:
        Gate.entered.set()
        await Gate.finish.wait()
        return "done"


async def test_healthz_follows_the_app_from_start_to_shutdown(
    make_settings: Callable[..., Settings], free_port: int
) -> None:
    Gate.started, Gate.entered, Gate.finish = asyncio.Event(), asyncio.Event(), asyncio.Event()
    settings = make_settings(metrics={"enabled": True, "port": free_port})
    creating = asyncio.create_task(App.create(settings, plugins=[Gate]))
    try:
        status, body = await health(free_port, wait_for_server=True)
        assert (status, body) == (503, {"status": "starting"})  # the model and plugins load
        Gate.started.set()
        app = await creating
    finally:
        Gate.started.set()
    closing_started = False
    try:
        status, body = await health(free_port)
        assert status == 200
        assert body == {"status": "ready", "model": app.generation.model_name, "database": "ok"}
        assert value(await scrape(free_port), "storyloom_events_in_flight") == 0

        sent: list[dict[str, Any]] = []
        incoming = Incoming(
            channel=ChannelRef("c1", "g1"), author=Author("u1", "ann"), text="/wait"
        )
        app.router.dispatch(incoming, RecordingResponder(incoming, sent.append))
        await Gate.entered.wait()  # the command runs and waits
        assert value(await scrape(free_port), "storyloom_events_in_flight") == 1
        closing = asyncio.create_task(app.close(drain_timeout=60))
        closing_started = True
        await asyncio.sleep(0)  # close() has begun: it waits for the command
        status, body = await health(free_port)
        assert (status, body) == (503, {"status": "stopping"})
        Gate.finish.set()
        await closing
        assert [record["text"] for record in sent] == ["done"]
    finally:
        Gate.finish.set()
        if not closing_started:
            await app.close()
    with pytest.raises(OSError):  # the endpoint closed with the app
        await health(free_port)


@pytest.mark.postgres
async def test_healthz_is_503_while_the_database_refuses_connections(
    make_settings: Callable[..., Settings],
) -> None:
    admin: Any = await _pg_admin()
    suffix = uuid.uuid4().hex[:10]
    role, schema = f"storyloom_health_{suffix}", f"storyloom_health_{suffix}"
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
    url = PG_URL.replace("postgres@", f"{role}@", 1)
    try:
        settings = make_settings(
            storage={"url": url, "pg_schema": schema}, metrics={"enabled": True, "port": 0}
        )
        async with App.running(settings, plugins=[]) as app:
            assert app.metrics_server is not None
            port = app.metrics_server.port
            assert (await health(port))[0] == 200
            await admin.execute(f'ALTER ROLE "{role}" NOLOGIN')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
            )
            status, body = await health(port)
            assert status == 503
            assert body["status"] == "unhealthy"
            assert body["database"].startswith("unreachable")
            await admin.execute(f'ALTER ROLE "{role}" LOGIN')
            assert (await health(port))[0] == 200  # back once it answers again
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
