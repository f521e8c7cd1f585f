"""The mod-log: every block and flag is audited and summarised in the server's mod-log channel
(or the bot-wide one) through the poster the adapter attaches; posting never touches a verdict."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from bot.adapters import console
from bot.adapters.console import run_jsonl
from bot.moderation import (
    AuditEvent,
    Direction,
    GuildRules,
    MemoryAuditSink,
    ModerationContext,
    ModerationPipeline,
    ModerationSettings,
    StaticRulesProvider,
)
from bot.moderation.mod_log import ModLogSink
from tests.conftest import AppFactory
from tests.moderation.test_moderation_commands import Echo

SECRET_WORD = "zorblax"
RULES = StaticRulesProvider(
    {
        "g1": GuildRules(custom_words=(SECRET_WORD,), mod_log_channel_id="mods"),
        "g2": GuildRules(custom_words=(SECRET_WORD,)),
    }
)


def ctx(guild: str | None) -> ModerationContext:
    return ModerationContext(Direction.INPUT, guild_id=guild, channel_id="c1", user_id="u1")


def pipeline(audit: ModLogSink) -> ModerationPipeline:
    return ModerationPipeline(
        ModerationSettings(classifier_enabled=False), rules_provider=RULES, audit=audit
    )


class Posts:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    async def __call__(self, channel_id: str, text: str) -> None:
        self.posts.append((channel_id, text))


async def test_summary_goes_to_the_guilds_channel_or_the_fallback() -> None:
    inner, posts = MemoryAuditSink(), Posts()
    sink = ModLogSink(inner, RULES, fallback_channel_id="operator")
    sink.attach(posts)
    moderation = pipeline(sink)
    for guild in ("g1", "g2", None):
        verdict = await moderation.check(f"the {SECRET_WORD} again", ctx(guild))
        assert verdict.blocked == (guild is not None)
    await moderation.check("a flagged mail: bob@example.com", ctx(None))
    await sink.drain()
    assert [e.guild_id for e in inner.events] == ["g1", "g2", None]
    assert [c for c, _ in posts.posts] == ["mods", "operator", "operator"]
    for _, text in posts.posts:
        assert SECRET_WORD not in text and "example.com" not in text
    assert posts.posts[0][1].startswith("Blocked input from <@u1> in <#c1> (custom)")
    assert posts.posts[2][1].startswith("Flagged input")


async def test_the_last_attached_poster_posts_until_it_is_detached() -> None:
    first, second = Posts(), Posts()
    sink = ModLogSink(MemoryAuditSink(), RULES)
    detach_first = sink.attach(first)
    detach_second = sink.attach(second)
    await pipeline(sink).check(SECRET_WORD, ctx("g1"))
    await sink.drain()
    assert (len(first.posts), len(second.posts)) == (0, 1)
    detach_second()  # the earlier poster takes over again
    await pipeline(sink).check(SECRET_WORD, ctx("g1"))
    await sink.drain()
    assert (len(first.posts), len(second.posts)) == (1, 1)
    detach_first()
    detach_first()  # detaching twice is harmless
    assert sink.poster is None


async def test_without_a_channel_or_a_poster_nothing_is_posted() -> None:
    posts = Posts()
    sink = ModLogSink(MemoryAuditSink(), RULES)
    assert (await pipeline(sink).check(SECRET_WORD, ctx("g1"))).blocked  # no poster yet
    sink.attach(posts)
    assert (await pipeline(sink).check(SECRET_WORD, ctx("g2"))).blocked  # no channel
    await sink.drain()
    assert posts.posts == []


async def test_a_failing_or_slow_poster_never_touches_the_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = MemoryAuditSink()
    sink = ModLogSink(inner, RULES, post_timeout_s=0.2)
    release = asyncio.Event()

    async def slow(channel_id: str, text: str) -> None:
        await release.wait()

    async def broken(channel_id: str, text: str) -> None:
        raise ConnectionError("the platform is down")

    sink.attach(slow)
    verdict = await asyncio.wait_for(pipeline(sink).check(SECRET_WORD, ctx("g1")), timeout=5)
    assert verdict.blocked and len(inner.events) == 1  # decided while the post still waits
    sink.attach(broken)
    with caplog.at_level(logging.WARNING, logger="bot.moderation.mod_log"):
        assert (await pipeline(sink).check(SECRET_WORD, ctx("g1"))).blocked
        await sink.drain(timeout_s=5)
    assert len(inner.events) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("ConnectionError" in m and "mods" in m for m in messages), messages
    assert any("TimeoutError" in m for m in messages), messages  # the slow post gave up
    assert not any(SECRET_WORD in m for m in messages)


async def test_summary_is_posted_even_when_the_audit_table_fails() -> None:
    class DownSink:
        async def record(self, event: AuditEvent) -> None:
            raise OSError("database is gone")

    posts = Posts()
    sink = ModLogSink(DownSink(), RULES)
    sink.attach(posts)
    assert (await pipeline(sink).check(SECRET_WORD, ctx("g1"))).blocked
    await sink.drain()
    assert [c for c, _ in posts.posts] == ["mods"]


async def test_backlog_is_bounded() -> None:
    release = asyncio.Event()
    posted: list[str] = []

    async def stuck(channel_id: str, text: str) -> None:
        await release.wait()
        posted.append(text)

    sink = ModLogSink(MemoryAuditSink(), RULES, max_pending=2)
    sink.attach(stuck)
    moderation = pipeline(sink)
    for _ in range(5):
        assert (await moderation.check(SECRET_WORD, ctx("g1"))).blocked
    assert sink.dropped == 3
    release.set()
    await sink.drain()
    assert len(posted) == 2


def lines(*items: dict[str, Any]) -> list[str]:
    return [json.dumps(i) for i in items]


async def test_mod_log_here_then_a_block_posts_a_summary_in_the_console(
    make_app: AppFactory,
) -> None:
    app = await make_app(plugin_classes=[Echo], moderation={"classifier_enabled": False})
    admin = {"user": "mia", "channel": "mods", "permissions": ["manage_guild"]}

    async def run(*items: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in items:  # one at a time: the console runs channels concurrently
            out += await run_jsonl(app, lines(item))
        return out

    blocked = {"user": "bob", "channel": "main", "text": f"/echo the {SECRET_WORD} is hungry"}
    out = await run({**admin, "text": f"/mod words add {SECRET_WORD}"}, blocked)
    assert [o["kind"] for o in out] == ["notice", "notice"], "no mod-log channel yet"

    out = await run(
        {**admin, "text": "/mod log here"},
        blocked,
        {"user": "bob", "channel": "main", "text": "/echo a friendly line"},
    )
    [log_line] = [o for o in out if o["kind"] == "mod-log"]
    assert log_line["channel"] == "mods" and log_line["reply_to"] is None
    assert log_line["text"].startswith("Blocked input from <@u-bob> in <#main> (custom)")
    assert "keyword:custom" in log_line["text"]
    assert SECRET_WORD not in log_line["text"] and "hungry" not in log_line["text"]
    assert "this channel" in (await run({**admin, "text": "/mod rules"}))[0]["text"]

    out = await run({**admin, "text": "/mod log off"}, blocked)
    assert "no longer has a mod-log channel" in out[0]["text"]
    assert not [o for o in out if o["kind"] == "mod-log"]
    assert len(await app.store.moderation.find(guild_id="console")) == 3, "every block is audited"
    assert app.mod_log.poster is None, "run_jsonl removes its poster when it ends"


async def test_bot_wide_mod_log_channel_is_the_fallback(make_app: AppFactory) -> None:
    app = await make_app(
        plugin_classes=[Echo],
        moderation={"classifier_enabled": False},
        discord={"mod_log_channel_id": 123456789012345678},
    )
    out = await run_jsonl(app, lines({"user": "bob", "text": "/echo contact bob@example.com"}))
    [log_line] = [o for o in out if o["kind"] == "mod-log"]
    assert log_line["channel"] == "123456789012345678"
    assert log_line["text"].startswith("Flagged input") and "example.com" not in log_line["text"]


async def test_interactive_console_shows_mod_log_lines(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    app = await make_app(plugin_classes=[Echo], moderation={"classifier_enabled": False})
    typed = iter(
        ["/mod log here", f"/mod words add {SECRET_WORD}", f"/echo {SECRET_WORD}!", "/quit"]
    )
    monkeypatch.setattr(Console, "input", lambda self, prompt="": next(typed))
    await console.run_interactive(app)
    await app.mod_log.drain()
    shown = capsys.readouterr().out
    assert "mod-log #main" in shown and "Blocked input from" in shown
    assert shown.count(SECRET_WORD) == 1, "only in the reply to the moderator, not in the log line"
