"""Structured logs: JSON lines carry the event's guild, channel, plugin and command (set by the
router for each event); a real story session logs no story text at INFO and never the token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import pytest

from bot.adapters.console import run_jsonl
from bot.config import LoggingSettings
from bot.logs import REDACTED, configure_logging
from bot.plugin import Call, Param, Plugin, command
from tests.conftest import AppFactory

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.not-a-real-token-but-long-enough"
log = logging.getLogger("tests.chatty")


class Chatty(Plugin):
    name: ClassVar[str] = "chatty"
    description: ClassVar[str] = "Logs while it works."

    @command("chatty note", description="Logs a line.")
    async def note(self, call: Call, text: Annotated[str, Param("Text", rest=True)]) -> str:
        log.info("noted %d characters", len(text))
        log.info("a library echoing its credentials: %s", TOKEN)
        return "noted"

    @command("chatty crash", description="Fails.")
    async def crash(self, call: Call) -> str:
        raise RuntimeError("plugin bug")


@pytest.fixture
def json_logs() -> Iterator[Any]:
    """Configure JSON logging at INFO the way the CLI does; yields a reader of the lines so far."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(LoggingSettings(level="INFO", format="json"), secrets=[TOKEN])
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)  # the CLI's handler writes to stderr; read it here instead

    def read() -> list[dict[str, Any]]:
        lines = buffer.getvalue().splitlines()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in lines if line]

    try:
        yield read
    finally:
        for old in list(root.handlers):
            root.removeHandler(old)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])


def script(*texts: str, channel: str = "main") -> list[str]:
    return [json.dumps({"user": "ann", "channel": channel, "text": t}) for t in texts]


async def test_json_logs_carry_the_event_fields(make_app: AppFactory, json_logs: Any) -> None:
    app = await make_app(plugin_classes=[Chatty])
    json_logs()
    await run_jsonl(app, script("/chatty note remember the lighthouse", channel="tower"))
    await run_jsonl(app, script("/chatty crash", channel="cellar"))
    log.info("outside any event")
    records = json_logs()
    noted = next(r for r in records if r["message"] == "noted 23 characters")
    assert {k: noted.get(k) for k in ("guild", "channel", "plugin", "command")} == {
        "guild": "console",
        "channel": "tower",
        "plugin": "chatty",
        "command": "chatty note",
    }
    crash = next(r for r in records if r["message"].startswith("unhandled error"))
    assert crash["level"] == "ERROR" and "plugin bug" in crash["exc"]
    assert (crash["channel"], crash["plugin"], crash["command"]) == (
        "cellar",
        "chatty",
        "chatty crash",
    )
    outside = next(r for r in records if r["message"] == "outside any event")
    assert not {"guild", "channel", "plugin", "command"} & outside.keys()
    echoed = next(r for r in records if r["message"].startswith("a library echoing"))
    assert REDACTED in echoed["message"] and echoed["plugin"] == "chatty"
    assert not any(TOKEN in json.dumps(r) for r in records)


async def test_a_story_session_logs_no_story_text_at_info(
    make_app: AppFactory, json_logs: Any
) -> None:
    app = await make_app()
    premise = "A lighthouse keeper finds a map of the drowned city"
    turn = "Marguerite unrolls the map beside the great brass lamp"
    out = await run_jsonl(
        app, script(f"/story start {premise}", turn, "/story continue", "/story show")
    )
    written = [
        o["text"] for o in out if o["reply_to"] == "in-3" and o["kind"] in ("message", "edit")
    ]
    assert written and len(written[-1].split()) >= 3, out
    logged = json.dumps(json_logs())
    for text in (premise, turn, written[-1]):
        for fragment in (text[:30], text[-30:]):
            assert fragment not in logged
    assert "Marguerite" not in logged and "drowned" not in logged
