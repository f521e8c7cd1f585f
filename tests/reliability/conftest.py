"""Fixtures and checks shared by the reliability suites (faults, hostile input, isolation).

Every app here is the real one (bundled model, SQLite file in tmp_path) sized to stay fast:
eight new tokens per continuation, a fixed seed, no automatic continuations unless a test asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest

from bot.app import App
from bot.router import INTERNAL_ERROR
from tests.conftest import AppFactory, merge_settings

FAST_PLUGINS: dict[str, dict[str, Any]] = {
    "story": {
        "max_new_tokens": 8,
        "recap_max_new_tokens": 8,
        "seed": 7,
        "best_of": 1,  # the fault tests follow one streamed continuation
        "auto_continue_every": 0,
        "generation_deadline_s": 60.0,
        "active_cache_s": 0.0,
    },
    "poem": {"candidates": 1, "max_attempts": 1, "examples": 0},
    "headline": {"max_new_tokens": 12, "candidates": 2, "subheadline": False},
}
"""Plugin settings for quick runs (unknown keys are dropped per plugin by ``fast_overrides``)."""

INTERNAL_MARK = INTERNAL_ERROR.split("(error")[0].strip()
"""The start of the generic apology for an unexpected error."""
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
RAW_MENTION_RE = re.compile(r"@(everyone|here)\b|<@[!&]?\d{15,25}>")


def fast_overrides(app_plugins: Iterable[str] = ("story", "poem", "headline")) -> dict[str, Any]:
    """Settings overrides for a fast, deterministic app."""
    from pydantic import ValidationError

    plugins: dict[str, dict[str, Any]] = {}
    for name in app_plugins:
        wanted = dict(FAST_PLUGINS.get(name, {}))
        plugins[name] = _accepted_keys(name, wanted, ValidationError)
    return {"plugins": plugins, "generation": {"torch_threads": 1}}


def _accepted_keys(plugin: str, wanted: dict[str, Any], error: type[Exception]) -> dict[str, Any]:
    """Keep only the keys the plugin's settings model knows (plugins forbid unknown keys)."""
    model = _settings_model(plugin)
    if model is None:
        return {}
    fields = set(getattr(model, "model_fields", {}))
    return {k: v for k, v in wanted.items() if k in fields}


def _settings_model(plugin: str) -> Any:
    try:
        if plugin == "story":
            from plugins.story.config import StorySettings

            return StorySettings
        if plugin == "poem":
            from plugins.poem.settings import PoemSettings

            return PoemSettings
        if plugin == "headline":
            from plugins.headline.settings import HeadlineSettings

            return HeadlineSettings
    except ImportError:
        return None
    return None


@pytest.fixture
def make_fast_app(make_app: AppFactory) -> AppFactory:
    """``await make_fast_app(**overrides)``: a real app with every installed plugin, sized for
    quick runs (``fast_overrides()`` merged under ``overrides``); closed after the test."""

    async def make(**overrides: Any) -> App:
        return await make_app(**merge_settings(fast_overrides(), overrides))

    return make


@pytest.fixture
async def fast_app(make_fast_app: AppFactory) -> App:
    """The real app with every built-in plugin, sized for quick reliability runs."""
    return await make_fast_app()


def line(text: str = "", *, user: str = "alice", channel: str = "main", **extra: Any) -> str:
    """One JSON script line for ``run_jsonl``."""
    return json.dumps({"user": user, "channel": channel, "text": text, **extra}, ensure_ascii=False)


def problems(records: Iterable[dict[str, Any]], *, allow_internal: bool = False) -> list[str]:
    """Everything wrong with output records: tracebacks, live mentions, internal errors."""
    found: list[str] = []
    for r in records:
        texts = [str(r.get("text") or "")]
        texts += [b.get("label", "") for b in r.get("buttons", [])]
        for text in texts:
            if TRACEBACK_RE.search(text):
                found.append(f"traceback in {r.get('reply_to')}: {text[:200]!r}")
            if RAW_MENTION_RE.search(text):
                found.append(f"live mention in {r.get('reply_to')}: {text[:200]!r}")
            if not allow_internal and INTERNAL_MARK in text:
                found.append(f"internal error for {r.get('reply_to')}: {text[:200]!r}")
    return found


def by_reply(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(str(r.get("reply_to")), []).append(r)
    return out


def is_plain_chat(raw: str | bytes) -> bool:
    """A script line the console reads as a plain chat message (which may rightly get no
    answer): a JSON object whose ``text`` is a string that is not a command."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # deeply nested JSON is not chat either
        return False
    text = data.get("text", "") if isinstance(data, dict) else None
    return isinstance(text, str) and not text.startswith("/")
