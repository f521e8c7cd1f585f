"""Fixtures for story games driven through the console adapter's JSON-lines harness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.adapters.console import run_jsonl
from bot.app import App
from bot.config import Settings
from plugins.story import StoryPlugin

STORY_TEST_SETTINGS: dict[str, Any] = {
    "max_new_tokens": 24,
    "recap_max_new_tokens": 24,
    "auto_continue_every": 0,
    "seed": 1234,
    # The game-flow tests stream one candidate; test_story_best_of.py covers ranked replies.
    "best_of": 1,
    "turn_timeout_s": 30.0,
    "vote_window_s": 60.0,
    "active_cache_s": 0.0,
    "tick_interval_s": 0.0,
}


@dataclass(slots=True)
class FakeClock:
    """Wall-clock stand-in: tests move time forward instead of sleeping."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class Game:
    """A running app with the story plugin, a fake clock and a script runner."""

    app: App
    clock: FakeClock
    channel: str = "tale"
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plugin(self) -> StoryPlugin:
        plugin = self.app.registry.plugins["story"]
        assert isinstance(plugin, StoryPlugin)
        return plugin

    @property
    def channel_key(self) -> str:
        return f"console:{self.channel}"

    def line(
        self,
        user: str,
        text: str = "",
        *,
        action: str | None = None,
        mod: bool = False,
        admin: bool = False,
        attachments: list[dict[str, str]] | None = None,
    ) -> str:
        data: dict[str, Any] = {"user": user, "channel": self.channel, "text": text}
        if action is not None:
            data["action"] = action
        if attachments is not None:
            data["attachments"] = attachments
        perms = (["manage_messages"] if mod else []) + (["manage_guild"] if admin else [])
        if perms:
            data["permissions"] = perms
        return json.dumps(data)

    async def play(self, *lines: str) -> list[dict[str, Any]]:
        records = await run_jsonl(self.app, lines)
        self.log.extend(records)
        return records

    async def say(self, user: str, text: str = "", **kwargs: Any) -> list[dict[str, Any]]:
        return await self.play(self.line(user, text, **kwargs))


def final_texts(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last version of each posted message (edits applied), by message id."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["id"] is None:
            continue
        if r["kind"] == "edit":
            out[r["id"]] = {**out.get(r["id"], {}), **r, "kind": out.get(r["id"], r)["kind"]}
        else:
            out[r["id"]] = dict(r)
    return out


def transcript(records: list[dict[str, Any]]) -> str:
    """A readable transcript (final versions of messages), for reports and failure output."""
    lines = []
    for r in final_texts(records).values():
        tag = "notice" if r["kind"] == "notice" else "bot"
        buttons = " ".join(f"[{b['label']}]" for b in r.get("buttons", []))
        lines.append(f"{tag}> {r['text']} {buttons}".rstrip())
    return "\n".join(lines)


GameFactory = Callable[..., Awaitable[Game]]


@pytest.fixture
async def make_game(make_settings: Callable[..., Settings]) -> AsyncIterator[GameFactory]:
    """``await make_game(**story_settings)``: a started app with only the story plugin."""
    apps: list[App] = []

    async def make(**story: Any) -> Game:
        settings = make_settings(plugins={"story": {**STORY_TEST_SETTINGS, **story}})
        app = await App.create(settings, plugins=[StoryPlugin])
        apps.append(app)
        game = Game(app, FakeClock())
        game.plugin.clock = game.clock
        return game

    yield make
    for app in apps:
        await app.close(drain_timeout=5.0)
