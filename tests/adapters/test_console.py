"""The console adapter's JSON-lines mode: malformed input never stops the session."""

from __future__ import annotations

import json

from bot.adapters.console import run_jsonl
from tests.conftest import AppFactory


async def test_malformed_lines_get_error_records_and_the_session_goes_on(
    make_app: AppFactory,
) -> None:
    from storyloom_dice import DicePlugin

    app = await make_app(plugin_classes=[DicePlugin])
    lines = [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"user": 5, "text": "/roll"}),
        json.dumps({"user": "", "text": "/roll"}),
        json.dumps({"text": "/roll", "permissions": ["root"]}),
        "{" * 100_000,
        "x" * 300_000,
        "",
        json.dumps({"user": "ann", "text": "/roll 2 6"}),
    ]
    out = await run_jsonl(app, lines)
    errors = [o for o in out if o["kind"] == "error"]
    assert [e["reply_to"] for e in errors] == [f"in-{i}" for i in range(1, 8)]
    assert "not valid JSON" in errors[0]["text"] and "expected a JSON object" in errors[1]["text"]
    assert '"user" must be a string' in errors[2]["text"]
    assert "may not be empty" in errors[3]["text"] and "permissions may be" in errors[4]["text"]
    assert "longer than" in errors[6]["text"]
    rolled = [o for o in out if o["kind"] == "message"]
    assert (
        len(rolled) == 1
        and rolled[0]["reply_to"] == "in-9"
        and "ann rolled 2d6" in rolled[0]["text"]
    )


async def test_third_party_plugin_found_through_its_entry_point(app) -> None:
    assert "dice" in app.registry.plugins, [f.reason for f in app.registry.failures]
    out = await run_jsonl(
        app,
        [
            json.dumps({"user": "zoe", "text": "/roll 3 20"}),
            json.dumps({"user": "zoe", "text": "/roll 0"}),
        ],
    )
    assert "zoe rolled 3d20" in out[0]["text"]
    total = int(out[0]["text"].split("**")[1])
    assert 3 <= total <= 60
    assert out[1]["kind"] == "notice" and "at least 1" in out[1]["text"]


async def test_channels_are_independent_and_in_order(make_app: AppFactory) -> None:
    from storyloom_dice import DicePlugin

    app = await make_app(plugin_classes=[DicePlugin])
    lines = [
        json.dumps({"user": "a", "channel": f"c{i % 3}", "text": f"/roll {1 + i}"})
        for i in range(9)
    ]
    out = await run_jsonl(app, lines)
    assert sorted(o["reply_to"] for o in out) == sorted(f"in-{i}" for i in range(1, 10))
    for channel in ("c0", "c1", "c2"):
        order = [int(o["reply_to"][3:]) for o in out if o["channel"] == channel]
        assert order == sorted(order)
