"""`storyloom web` run as a user would: one command, the bundled model, a SQLite file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx

from bot.adapters.web.runner import bind
from tests.adapters.web.conftest import WAIT_S

STORYLOOM = [sys.executable, "-m", "bot.cli"]


def environment(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "STORYLOOM_DATA_DIR": str(tmp_path / "data")}
    env.pop("STORYLOOM_CONFIG", None)
    return env


async def run(*args: str, tmp_path: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *STORYLOOM,
        *args,
        env=environment(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), WAIT_S)
    return process.returncode or 0, out.decode()


async def test_help_explains_the_command(tmp_path: Path) -> None:
    code, out = await run("web", "--help", tmp_path=tmp_path)
    assert code == 0
    for words in ("--host", "--port", "browser", "room", "nickname", "0.0.0.0"):
        assert words in out, words
    code, out = await run("--help", tmp_path=tmp_path)
    assert "web" in out


async def test_the_command_serves_rooms_and_stops_cleanly(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *STORYLOOM,
        "web",
        "--port",
        "0",
        env=environment(tmp_path),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert process.stderr is not None
    try:
        url = None
        while url is None:
            line = (await asyncio.wait_for(process.stderr.readline(), WAIT_S)).decode()
            assert line, "storyloom web exited before it was ready"
            found = re.search(r"running at (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=WAIT_S) as http:
            page = await http.get("/")
            assert page.status_code == 200 and "storyloom" in page.text
            created = await http.post("/api/rooms", json={"name": "Club"})
            assert created.status_code == 201
        assert (tmp_path / "data" / "storyloom.db").exists()
        process.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(process.stderr.read(), WAIT_S)
        assert await asyncio.wait_for(process.wait(), WAIT_S) == 130
        assert b"Traceback" not in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_taken_port_is_explained(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await run("web", "--port", str(port), tmp_path=tmp_path)
    assert code == 2
    assert "Cannot listen on 127.0.0.1" in out and "--host/--port" in out
    assert "Traceback" not in out


def test_the_announced_address_takes_connections_before_the_server_runs() -> None:
    """The address is printed while uvicorn is still starting: a browser that opens it then is
    queued, not refused (the socket listens from the moment it is bound)."""
    with bind("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
