"""An app with the poem and headline plugins on the bundled model, small budgets for speed."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.console import parse_line, run_jsonl
from bot.app import App
from bot.config import Settings
from bot.models import bundled_model_path
from bot.types import Author, ChannelRef
from plugins.headline import HeadlinePlugin
from plugins.poem import PoemPlugin

PLUGIN_SETTINGS: dict[str, Any] = {
    "poem": {"candidates": 3, "max_attempts": 2, "examples": 1},
    "headline": {"candidates": 3, "max_new_tokens": 16, "examples": 1},
}


@pytest.fixture
async def verse_app(make_settings: Callable[..., Settings]) -> AsyncIterator[App]:
    """A started app with the poem and headline plugins."""
    app = await App.create(
        make_settings(plugins=PLUGIN_SETTINGS), plugins=[PoemPlugin, HeadlinePlugin]
    )
    yield app
    await app.close(drain_timeout=5.0)


CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}{% if not loop.last %}\n{% endif %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


@pytest.fixture
async def chat_app(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[App]:
    """The same app on a copy of the bundled model whose tokenizer has a chat template,
    so the plugins take their chat-model code path."""
    model = tmp_path / "chat_model"
    for attempt in range(3):  # the bundled model dir is swapped atomically while it is trained
        try:
            shutil.copytree(bundled_model_path(), model, dirs_exist_ok=True)
            break
        except (FileNotFoundError, shutil.Error):
            if attempt == 2:
                raise
    config_path = model / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(config))
    settings = make_settings(plugins=PLUGIN_SETTINGS, generation={"model": str(model)})
    app = await App.create(settings, plugins=[PoemPlugin, HeadlinePlugin])
    assert app.generation.is_chat_model
    yield app
    await app.close(drain_timeout=5.0)


def line(text: str, *, user: str = "ada", channel: str = "verse", **extra: Any) -> str:
    return json.dumps({"user": user, "channel": channel, "text": text, **extra})


def channel_ref(channel: str = "verse") -> ChannelRef:
    return parse_line(line("x", channel=channel), 1).channel


def author(user: str = "ada") -> Author:
    return parse_line(line("x", user=user), 1).author


async def say(app: App, *texts: str, **extra: Any) -> list[dict[str, Any]]:
    """Run commands through the console harness; return the output records."""
    return await run_jsonl(app, [line(t, **extra) for t in texts])
