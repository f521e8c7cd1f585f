"""storyloom on Discord (discord.py).

- :func:`build_discord_bot` builds the bot for an :class:`~bot.app.App` without connecting
  (tests drive it with dpytest and hand-built interactions).
- :func:`run_discord` is ``storyloom run``: token from the settings, graceful shutdown.

See ``docs/discord.md`` for the setup guide (developer portal, intents, invite URL, sharding,
Docker).
"""

from bot.adapters.discord.adapter import (
    DiscordAdapter,
    ShardedStoryloomBot,
    StoryloomBot,
    build_discord_bot,
    intents_for,
)
from bot.adapters.discord.buttons import ActionButton, build_view
from bot.adapters.discord.invite import REQUIRED_PERMISSIONS, invite_url
from bot.adapters.discord.outbound import NO_MENTIONS, deliver
from bot.adapters.discord.runner import run_discord
from bot.adapters.discord.split import split_message

__all__ = [
    "NO_MENTIONS",
    "REQUIRED_PERMISSIONS",
    "ActionButton",
    "DiscordAdapter",
    "ShardedStoryloomBot",
    "StoryloomBot",
    "build_discord_bot",
    "build_view",
    "deliver",
    "intents_for",
    "invite_url",
    "run_discord",
    "split_message",
]
