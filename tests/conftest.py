"""Shared fixtures: real settings in a temp dir, a real App (bundled model, SQLite file)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.app import App
from bot.config import Settings, load_settings
from bot.generation.types import GenerationRequest
from bot.plugin import Plugin

TEST_GENERATION = {"max_batch_size": 8, "queue_size": 32, "default_timeout_s": 120.0}


def merge_settings(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merge_settings(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings for a test: data in tmp_path, SQLite file, bundled model, generous limits."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "generation": dict(TEST_GENERATION),
            "router": {"user_rate": 1000, "channel_rate": 1000, "stream_edit_interval_s": 0.0},
            "logging": {"level": "WARNING"},
        }
        return load_settings(None, **merge_settings(base, overrides))

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on right now (for servers whose port must be known up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(make_settings: Callable[..., Settings]) -> AsyncIterator[AppFactory]:
    """``await make_app(plugin_classes=[...], **settings_overrides)``; every app is closed after the test."""
    apps: list[App] = []

    async def make(plugin_classes: Iterable[type[Plugin]] | None = None, **overrides: Any) -> App:
        app = await App.create(make_settings(**overrides), plugins=plugin_classes)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.close(drain_timeout=5.0)


@pytest.fixture
async def app(make_app: AppFactory) -> App:
    """A started App with every installed plugin (entry points)."""
    return await make_app()


@contextlib.contextmanager
def recorded_requests(app: App) -> Iterator[list[GenerationRequest]]:
    """Every request the app's generation service receives while the block runs (the real
    service still answers them): what the model was really asked."""
    seen: list[GenerationRequest] = []
    service = app.generation
    original_complete, original_stream = service.complete, service.stream

    async def complete(request: GenerationRequest) -> Any:
        seen.append(request)
        return await original_complete(request)

    def stream(request: GenerationRequest) -> Any:
        seen.append(request)
        return original_stream(request)

    service.complete = complete  # type: ignore[method-assign]
    service.stream = stream  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del service.complete, service.stream
