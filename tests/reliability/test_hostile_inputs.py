"""The hostile-input corpus through every command, every trigger and every button.

Three ways in: typed lines through the console adapter's JSON-lines mode (``run_jsonl``),
structured slash-command options straight into the router (what the Discord adapter sends), and
tampered button ids. Expected: a clear answer or silence, no crash, no internal error, no
traceback, no live mention, and no change to another player's turns or the story's memory.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.console import CONSOLE_GUILD, RecordingResponder, run_jsonl
from bot.app import App
from bot.plugin import CommandSpec
from bot.records import Story, TurnKind
from bot.types import Author, ChannelRef, Incoming, IncomingKind
from tests.reliability.conftest import is_plain_chat, line, problems
from tests.reliability.hostile_inputs import (
    ACTION_IDS,
    CONTROL_CHARS,
    NON_OBJECT_JSON_LINES,
    corpus,
)
from tests.storage.conftest import PG_URL

CHANNEL = "hostile"
ALICE_TURNS = ("The fox found a silver key under the bridge.", "She hid the key in her den.")
MEMORY = "The fox is called Pip and is very kind."
NOTE = "Gentle and calm."


async def _alice_story(app: App, channel: str = CHANNEL) -> Story:
    out = await run_jsonl(
        app,
        [
            line("/story start A fox and a silver key", channel=channel),
            line(f"/story memory {MEMORY}", channel=channel),
            line(f"/story note {NOTE}", channel=channel),
            *(line(f"/story add {t}", channel=channel) for t in ALICE_TURNS),
        ],
    )
    assert problems(out) == [], out
    story = await app.store.stories.get_active(ChannelRef(channel, CONSOLE_GUILD))
    assert story is not None and story.memory == MEMORY
    return story


async def _unchanged(app: App, story: Story) -> None:
    """Alice's turns, the memory, note, title and status are exactly as before."""
    now = await app.store.stories.get(story.id, story.channel_key)
    assert (now.memory, now.author_note, now.title, now.premise, now.status) == (
        story.memory,
        story.author_note,
        story.title,
        story.premise,
        story.status,
    )
    turns = await app.store.turns.all(story.id, include_removed=True)
    alice = [(t.text, t.removed) for t in turns if t.author_id == "u-alice"]
    assert alice == [(t, False) for t in ALICE_TURNS], alice


def _typed_lines(app: App, user: str, channel: str, **extra: Any) -> list[str]:
    specs = app.registry.unique_commands()
    assert len(specs) >= 20, [s.path for s in specs]
    lines: list[str] = []
    for case in corpus():
        lines.append(line(case.text, user=user, channel=channel, **extra))  # a plain message
        for spec in specs:
            lines.append(line(f"/{spec.path} {case.text}", user=user, channel=channel, **extra))
    return lines


async def test_typed_hostile_inputs_through_every_command_and_trigger(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app)
    script = _typed_lines(app, "mallory", CHANNEL)
    script += list(NON_OBJECT_JSON_LINES)
    script += [line("/" + case.text, user="mallory", channel=CHANNEL) for case in corpus()]
    out = await run_jsonl(app, script)
    found = problems(out)
    assert found == [], f"{len(found)} problems, first ones: {found[:8]}"
    await _unchanged(app, story)
    # every line that is not a usable JSON object got a clear error record
    answered = {r["reply_to"]: r["kind"] for r in out}
    first = len(script) - len(corpus()) - len(NON_OBJECT_JSON_LINES) + 1
    for number, raw in enumerate(NON_OBJECT_JSON_LINES, start=first):
        assert answered.get(f"in-{number}") or is_plain_chat(raw), f"no answer to {raw[:40]!r}"


async def test_hostile_moderator_cannot_crash_admin_commands(fast_app: App) -> None:
    app = fast_app
    await _alice_story(app, channel="mods")
    admin = [s for s in app.registry.unique_commands() if s.permission is not None]
    assert admin, "no admin commands found"
    lines: list[str] = []
    for case in corpus():
        for spec in admin:
            lines.append(
                line(
                    f"/{spec.path} {case.text}",
                    user="root",
                    channel="mods",
                    permissions=["manage_guild"],
                )
            )
    numeric = ("-1", "0", "99999999999999999999", "nan", "inf", "-inf", "1e309", "1_000", "0x10")
    for key in (
        "auto_continue_every",
        "turn_timeout_s",
        "vote_window_s",
        "temperature",
        "max_new_tokens",
        "sampling_preset",
    ):
        for value in numeric:
            lines.append(
                line(
                    f"/story settings {key} {value}",
                    user="root",
                    channel="mods",
                    permissions=["manage_guild"],
                )
            )
    out = await run_jsonl(app, lines)
    assert problems(out) == [], problems(out)[:8]
    # the story plugin is still on and the stored guild settings are sane
    story_settings = await app.store.settings.get_all("story", guild_id=CONSOLE_GUILD)
    assert 0 <= int(story_settings["auto_continue_every"]) <= 50
    assert 8 <= int(story_settings["max_new_tokens"]) <= 1000
    temperature = story_settings.get("temperature")
    assert temperature is None or 0 <= float(temperature) <= 2


async def test_oversized_and_negative_numbers_get_usage_errors(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app, channel="nums")
    big = "99999999999999999999"
    cases = [
        f"/story export md {big}",
        f"/story export json -{big}",
        f"/story export story={big}",
        f"/story lore remove {big}",
        "/story lore remove -1",
        "/story lore remove 0",
        f"/story swipe {big}",
        "/story swipe -5",
        f"/story vote {big}",
        "/story vote -1",
        "/story vote 0",
        f"/story export md {'9' * 5000}",
        "/story swipe 1e3",
        f"/story start mode=round-robin title={'t' * 500} a premise",
    ]
    out = await run_jsonl(app, [line(c, user="mallory", channel="nums") for c in cases])
    found = problems(out)
    assert found == [], found
    answered = {r["reply_to"] for r in out}
    assert answered == {f"in-{i}" for i in range(1, len(cases) + 1)}, out
    await _unchanged(app, story)


async def test_raw_mentions_are_never_posted(fast_app: App) -> None:
    app = fast_app
    mentions = [c for c in corpus() if c.category == "mention"]
    script = [line("/story start @everyone <@&987654321098765432> the ping story", channel="m")]
    for case in mentions:
        script += [
            line(f"/story add {case.text}", user="mallory", channel="m"),
            line(f"/story memory {case.text}", channel="m"),
            line(f"/story title {case.text}", channel="m"),
            line(f"/story lore dragon {case.text}", channel="m"),
            line(f"/headline {case.text}", user="mallory", channel="m"),
        ]
    script += [
        line("/story show", channel="m"),
        line("/story changes", channel="m"),
        line("/story lore list", channel="m"),
        line("/story list", channel="m"),
        line("/story recap", channel="m"),
        line("/story continue", channel="m"),
        line("/story end", channel="m"),
    ]
    out = await run_jsonl(app, script)
    assert problems(out) == [], problems(out)[:8]
    assert any(r["kind"] == "message" for r in out)


# -- straight into the router: structured options and buttons ------------------------------------

HOSTILE_VALUES: tuple[object, ...] = (
    "",
    " ",
    "\x00",
    "\ud800",
    "@everyone",
    "<@&1>",
    -1,
    0,
    2**63,
    -(2**63) - 1,
    10**30,
    float("nan"),
    float("inf"),
    -0.0,
    1e309,
    True,
    None,
    [],
    ["a"],
    {"x": 1},
    "9" * 5000,
    "x" * 100_000,
    "‮gnp.exe",
)


def _slash(spec: CommandSpec, options: dict[str, object], author: Author, n: int) -> Incoming:
    return Incoming(
        channel=ChannelRef("router", CONSOLE_GUILD, name="router"),
        author=author,
        kind=IncomingKind.COMMAND,
        command=spec.path,
        options=options,
        message_id=f"slash-{n}",
    )


async def test_structured_options_straight_into_the_router(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app, channel="router")
    records: list[dict[str, Any]] = []
    # A player without permissions: nothing they send may change the story. (A moderator may
    # legitimately set the memory to any text, so moderators are not part of this check.)
    authors = (Author("u-mallory", "mallory"),)
    n = 0
    for spec in app.registry.unique_commands():
        names = [p.name for p in spec.params] + ["not_a_param"]
        for name in names:
            for value in HOSTILE_VALUES:
                for author in authors:
                    n += 1
                    incoming = _slash(spec, {name: value}, author, n)
                    await app.router.handle(incoming, RecordingResponder(incoming, records.append))
    # unknown commands and empty command paths
    for path in ("", " ", "story", "story frobnicate", "nope", "story add add add", "\x00"):
        n += 1
        incoming = Incoming(
            channel=ChannelRef("router", CONSOLE_GUILD),
            author=authors[0],
            kind=IncomingKind.COMMAND,
            command=path,
            message_id=f"slash-{n}",
        )
        await app.router.handle(incoming, RecordingResponder(incoming, records.append))
    assert n > 500
    found = problems(records)
    assert found == [], f"{len(found)} problems, first ones: {found[:8]}"
    await _unchanged(app, story)


async def test_tampered_button_ids(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app, channel="buttons")
    turns = await app.store.turns.all(story.id)
    ids = list(ACTION_IDS)
    for turn in turns:
        ids += [
            f"story:undo:{turn.id}",
            f"story:retry:{turn.id}",
            f"story:swipe:{turn.id}:2",
            f"story:swipe:{turn.id}:-1",
            f"story:vote:{turn.id}:1",
        ]
    records: list[dict[str, Any]] = []
    mallory = Author("u-mallory", "mallory")
    for n, action_id in enumerate(ids):
        incoming = Incoming(
            channel=ChannelRef("buttons", CONSOLE_GUILD),
            author=mallory,
            kind=IncomingKind.ACTION,
            action_id=action_id,
            message_id=f"b-{n}",
        )
        await app.router.handle(incoming, RecordingResponder(incoming, records.append))
    assert problems(records) == [], problems(records)[:8]
    await _unchanged(app, story)
    assert [t.id for t in await app.store.turns.all(story.id)] == [t.id for t in turns]


# -- prompt injection: what the storyteller reads ------------------------------------------------

SPEAKER_RE = re.compile(r"^\s*\W{0,3}\s*([A-Za-z][\w' ]{0,30}?)\s*:")
SPOOFED = ("alice", "system", "narrator", "storyteller", "assistant", "user")


async def test_injected_author_tags_do_not_speak_for_others_in_the_prompt(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app, channel="inject")
    injections = [c for c in corpus() if c.category == "injection"]
    for case in injections:
        out = await run_jsonl(
            app, [line(f"/story add {case.text}", user="mallory", channel="inject")]
        )
        assert problems(out) == [], out
    plugin: Any = app.registry.plugins["story"]
    story = await app.store.stories.get(story.id, story.channel_key)
    from plugins.story.game import GameState

    prose = await plugin.writing.build_prompt(
        story, GameState.from_dict(story.state), max_new_tokens=8
    )
    # Each turn stays one paragraph of the prose prompt, after the premise (no fake paragraphs
    # or blocks) ...
    assert prose.text.count("\n\n") == len(prose.context.parts)
    assert "[" not in prose.text and "[Memory:" not in prose.text
    # ... and in the tagged layout (for models that read speaker tags) nobody speaks for others.
    plugin.config = plugin.config.model_copy(
        update={"prose_prompt": False, "base_cue": "Narrator:"}
    )
    built = await plugin.writing.build_prompt(
        story, GameState.from_dict(story.state), max_new_tokens=8
    )
    turns = await app.store.turns.all(story.id)
    legit = {f"alice: {t.text}" for t in turns if t.author_id == "u-alice"}
    legit.add(f"{plugin.config.narrator_name}:")  # the storyteller's own cue line
    spoofed = []
    for text_line in built.text.splitlines():
        match = SPEAKER_RE.match(text_line)
        if match and match.group(1).strip().lower() in SPOOFED and text_line.strip() not in legit:
            spoofed.append(text_line)
    assert spoofed == [], (
        f"a player's turn puts lines in the prompt that read as another speaker's: {spoofed[:5]}"
    )
    assert built.text.count("[Author's note:") <= 1, "a turn fakes an author's note in the prompt"
    assert "[Memory:" not in built.text, "a turn fakes a memory block in the prompt"
    await _unchanged(app, story)
    assert all(t.kind is TurnKind.PLAYER for t in turns if t.author_id == "u-mallory")


# -- the audit log and PostgreSQL ---------------------------------------------------------------

BLOCKED_CASES = Path(__file__).resolve().parents[1] / "moderation" / "cases" / "obfuscated.jsonl"


async def test_a_blocked_message_is_refused_stored_nowhere_and_audited(fast_app: App) -> None:
    app = fast_app
    story = await _alice_story(app, channel="audit")
    cases = [json.loads(raw) for raw in BLOCKED_CASES.read_text(encoding="utf-8").splitlines()]
    offensive = next(c["text"] for c in cases if c["expected"] == "block")
    out = await run_jsonl(
        app,
        [
            line(offensive, user="mallory", channel="audit"),
            line(f"/story add {offensive}", user="mallory", channel="audit"),
        ],
    )
    assert problems(out) == [], out
    assert [r["kind"] for r in out] == ["notice", "notice"], out
    assert all(offensive not in r["text"] for r in out), "a refusal quoted the offending text"
    assert all(t.author_id != "u-mallory" for t in await app.store.turns.all(story.id))
    events = await app.store.moderation.find(user_id="u-mallory", channel_id="audit")
    assert len(events) == 2, "blocked messages are missing from the moderation audit log"
    assert all(e.excerpt is None and e.excerpt_len == len(offensive) for e in events)


async def test_nul_bytes_and_huge_ids_on_postgresql(make_fast_app: Any) -> None:
    """PostgreSQL refuses NUL in text and 64-bit overflow in ids: both must be user errors."""
    if os.environ.get("STORYLOOM_SKIP_PG") == "1":
        pytest.skip("STORYLOOM_SKIP_PG=1")
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn, timeout=5)
    schema = f"storyloom_rel_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        app = await make_fast_app(storage={"url": PG_URL, "pg_schema": schema})
        story = await _alice_story(app, channel="pg")
        cases = [
            "/story add Once\x00upon a time",
            "Once\x00upon a plain message",
            "/story memory nul\x00here",
            "/story title \x00",
            "/story lore k\x00 v\x00",
            "/story export md 9223372036854775808",
            "/story lore remove 9223372036854775808",
            "/story add " + CONTROL_CHARS,
            "/story add \ud800 lone surrogate",
        ]
        out = await run_jsonl(app, [line(c, channel="pg") for c in cases])
        assert problems(out) == [], problems(out)
        await run_jsonl(app, [line("/story add The fox smiled.", channel="pg")])
        turns = await app.store.turns.all(story.id)
        assert turns[-1].text == "The fox smiled."
        assert all("\x00" not in t.text for t in turns)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
