"""The console adapter's JSON-lines mode: malformed input never stops the session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.adapters.console import (
    MAX_LINE_CHARS,
    ScriptError,
    parse_line,
    read_attachment,
    run_jsonl,
)
from bot.errors import UploadTooLarge
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
        "x" * (MAX_LINE_CHARS + 1),
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


def test_script_lines_carry_attached_files() -> None:
    line = json.dumps(
        {
            "user": "ann",
            "text": "/story import",
            "attachments": [
                {"filename": "tale.md", "text": "# Tale ✓"},
                {"filename": "blob.bin", "base64": "AAH/"},
            ],
        }
    )
    incoming = parse_line(line, 3)
    text_file, blob = incoming.attachments
    assert (text_file.filename, text_file.size, blob.filename, blob.size) == (
        "tale.md",
        len("# Tale ✓".encode()),
        "blob.bin",
        3,
    )
    assert text_file.extension == "md" and blob.extension == "bin"


async def test_attached_files_are_read_within_the_limit() -> None:
    upload = parse_line(json.dumps({"attachments": [{"filename": "a", "base64": "AAH/"}]}), 1)
    [blob] = upload.attachments
    assert await blob.read(3) == b"\x00\x01\xff"
    with pytest.raises(UploadTooLarge) as raised:
        await blob.read(2)
    assert (raised.value.size, raised.value.limit) == (3, 2)
    assert raised.value.user_message == "`a` is too large (3 bytes); the limit is 2 bytes."
    close = UploadTooLarge("b.json", 1_018_245, 1_000_000).user_message
    assert close == "`b.json` is too large (1,018,245 bytes); the limit is 1,000,000 bytes."


def test_bad_attachments_are_script_errors() -> None:
    for attachments, why in (
        ({"filename": "a"}, "must be a list of objects"),
        ([{"text": "x"}], 'needs a "filename" string'),
        ([{"filename": "a.json"}], 'needs "text" or "base64"'),
        ([{"filename": "a.json", "base64": "not base64!"}], "is not base64"),
    ):
        with pytest.raises(ScriptError, match=why):
            parse_line(json.dumps({"text": "/story import", "attachments": attachments}), 1)


async def test_attach_reads_a_file_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "tale.json"
    path.write_bytes(b'{"format": "storyloom.story"}')
    upload = await read_attachment(str(path))
    assert (upload.filename, upload.size) == ("tale.json", 29)
    assert await upload.read(1000) == path.read_bytes()
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        await read_attachment(str(path), limit=10)
    with pytest.raises(ValueError, match="is not a file"):
        await read_attachment(str(tmp_path))
