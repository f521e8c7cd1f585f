"""Fixtures for driving the real discord.py objects offline."""

from __future__ import annotations

import asyncio
import warnings

with warnings.catch_warnings():
    # discord.py imports audioop (deprecated in 3.11+) for voice, which storyloom does not use.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord
    import discord.ext.test

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from discord.ext import test as dpytest

from bot.adapters.discord import build_discord_bot
from bot.app import App
from tests.adapters.discord.harness import Cdn, Driver, Outbox, RecordingWebhook, Threads


@dataclass
class DiscordRig:
    """A started App, its discord.py bot configured with dpytest, and the recorders."""

    app: App
    bot: Any
    driver: Driver
    webhook: RecordingWebhook
    outbox: Outbox
    cdn: Cdn
    threads: Threads


def attach(bot: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingWebhook, Outbox]:
    webhook = RecordingWebhook(bot.user)  # type: ignore[arg-type]
    webhook.install(monkeypatch)
    outbox = Outbox()
    outbox.install()
    return webhook, outbox


async def configure(bot: Any) -> None:
    """Attach dpytest's fake gateway state to ``bot``.

    dpytest needs the member cache, which the bot's own intents leave off. It also replaces the
    connection state, so the command tree and the dynamic (persistent) buttons that the bot
    registered on its original state are carried over, as a real connection would have them.
    """
    state = bot._connection
    state._intents.members = True
    state.member_cache_flags = discord.MemberCacheFlags.from_intents(state._intents)
    dynamic_items = list(state._view_store._dynamic_items.values())
    await bot._async_setup_hook()
    dpytest.configure(bot, members=2)
    bot._connection.loop = asyncio.get_running_loop()  # what Client._async_setup_hook would set
    bot._connection._command_tree = bot.tree
    bot.add_dynamic_items(*dynamic_items)


RigFactory = Callable[..., Awaitable[DiscordRig]]


@pytest.fixture
async def make_rig(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[RigFactory]:
    """``await make_rig(plugins=[...], **settings)``: App + bot + dpytest + recorders."""
    monkeypatch.chdir(tmp_path)  # dpytest writes sent attachments to dpytest_N.dat in the cwd
    outboxes: list[Outbox] = []

    async def make(plugins: list[type] | None = None, **overrides: Any) -> DiscordRig:
        app = await make_app(plugin_classes=plugins, **overrides)
        bot = build_discord_bot(app, app.settings)
        await configure(bot)
        webhook, outbox = attach(bot, monkeypatch)
        outboxes.append(outbox)
        cdn, threads = Cdn(), Threads(bot)
        cdn.install(bot, monkeypatch)
        threads.install(monkeypatch)
        return DiscordRig(app, bot, Driver(bot, webhook, cdn), webhook, outbox, cdn, threads)

    yield make
    for outbox in outboxes:
        outbox.uninstall()
    await dpytest.empty_queue()
