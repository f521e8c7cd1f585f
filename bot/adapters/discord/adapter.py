"""The Discord adapter: discord.py events -> router, and the bot object that carries it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.adapters.discord.buttons import ActionButton
from bot.adapters.discord.convert import incoming_from_interaction, incoming_from_message
from bot.adapters.discord.outbound import deliver
from bot.adapters.discord.responders import ChannelResponder, InteractionResponder
from bot.adapters.discord.slash import build_app_commands
from bot.errors import ConfigError
from bot.plugin import CommandSpec, ParamSpec
from bot.types import Incoming, IncomingKind

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings

log = logging.getLogger(__name__)

SYNC_USAGE = (
    "Usage: `sync global` (every server; may take a while to appear), `sync here` (this server, "
    "instant), `sync <server id> [...]`, or `sync clear here` (remove this server's copies)."
)
OUT_OF_DATE = (
    "This command has changed since it was registered. A bot owner can fix that with the `sync` "
    "command; meanwhile, try again in a minute."
)
COMMAND_FAILED = "Sorry, that command could not be run. Please try again."
INSTANT_GRACE_S = 2.0
"""Commands declared instant (``defer=False``) are deferred anyway if silent this long."""


def intents_for(settings: Settings) -> discord.Intents:
    """Guilds, guild and DM messages; Message Content only when configured (a privileged intent)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = settings.discord.message_content_intent
    return intents


class StoryloomTree(app_commands.CommandTree):
    """Command tree whose errors become a short private notice, never a traceback."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
            text = OUT_OF_DATE
            log.warning("slash command out of sync: %s", error)
        elif isinstance(error, app_commands.CheckFailure):
            text = "You can't use that command here."
        else:
            text = COMMAND_FAILED
            log.error("slash command failed", exc_info=error)
        try:
            if interaction.response.is_done():
                await deliver(interaction.followup.send, content=text, ephemeral=True)
            else:
                await deliver(interaction.response.send_message, content=text, ephemeral=True)
        except discord.HTTPException:
            log.debug("could not report a slash command error")


class DiscordAdapter:
    """Routes Discord events through the app's router; one per bot.

    Chat messages that start with the command prefix (or mention the bot) become
    ``Incoming(kind=COMMAND, text=<line without prefix>)``; other messages are ``MESSAGE`` (plugin
    triggers). Slash commands become ``COMMAND`` with ``command`` and typed ``options``; button
    presses become ``ACTION``.
    """

    def __init__(self, app: App, settings: Settings, bot: AnyBot) -> None:
        self.app = app
        self.settings = settings
        self.bot = bot
        self.edit_interval_s = settings.router.stream_edit_interval_s
        self.closing = False
        self._active: set[asyncio.Task[Any]] = set()

    # -- events ---------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        if self.closing or message.author.bot or message.webhook_id is not None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        ctx: commands.Context[Any] = await self.bot.get_context(message)
        if ctx.valid:  # the adapter's own prefix commands (sync)
            await self.bot.invoke(ctx)
            return
        content = message.content
        if ctx.prefix is not None:
            line = content[len(ctx.prefix) :]
            if self._is_mention(ctx.prefix):
                line = line.strip()
            if line[:1].isalpha():  # "!story add" is a command; "! wow" or "!!!" is chat
                line = line.strip()
                incoming = incoming_from_message(message, text=line, kind=IncomingKind.COMMAND)
                await self._route(
                    incoming,
                    ChannelResponder(
                        message, edit_interval_s=self.edit_interval_s, reply_first=True
                    ),
                )
                return
        if not content.strip():
            return
        incoming = incoming_from_message(message, text=content)
        await self._route(incoming, ChannelResponder(message, edit_interval_s=self.edit_interval_s))

    def _is_mention(self, prefix: str) -> bool:
        user = self.bot.user
        return user is not None and prefix.strip() in (f"<@{user.id}>", f"<@!{user.id}>")

    async def on_slash(
        self, interaction: discord.Interaction, spec: CommandSpec, options: dict[str, object]
    ) -> None:
        responder = InteractionResponder(interaction, edit_interval_s=self.edit_interval_s)
        if spec.defer:
            await responder.acknowledge()
        else:  # declared instant; still acknowledge in time if it is not
            responder.acknowledge_later(INSTANT_GRACE_S)
        incoming = incoming_from_interaction(
            interaction, kind=IncomingKind.COMMAND, command=spec.path, options=options
        )
        await self._route(incoming, responder)

    async def on_action(self, interaction: discord.Interaction, action_id: str) -> None:
        responder = InteractionResponder(interaction, edit_interval_s=self.edit_interval_s)
        await responder.acknowledge()
        incoming = incoming_from_interaction(
            interaction, kind=IncomingKind.ACTION, action_id=action_id
        )
        await self._route(incoming, responder)

    async def suggest(
        self, interaction: discord.Interaction, spec: CommandSpec, param: ParamSpec, current: str
    ) -> list[str | int | float]:
        """Autocomplete: ask the plugin's ``autocomplete(incoming, command, param, current)`` hook."""
        plugin = self.app.registry.plugins.get(spec.plugin)
        if plugin is None:
            return []
        hook = plugin.autocomplete
        options = {k: v for k, v in vars(interaction.namespace).items() if v is not None}
        incoming = incoming_from_interaction(
            interaction, kind=IncomingKind.COMMAND, command=spec.path, options=options
        )
        try:
            values = await asyncio.wait_for(
                hook(incoming, spec.path, param.name, current), timeout=2.0
            )
        except Exception:
            log.exception("autocomplete for /%s %s failed", spec.path, param.name)
            return []
        return list(values)

    async def _route(
        self, incoming: Incoming, responder: ChannelResponder | InteractionResponder
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            await self.app.router.dispatch(incoming, responder)
        finally:
            try:
                if isinstance(responder, InteractionResponder):
                    await responder.finish()
                else:
                    await responder.flush()
            finally:
                if task is not None:
                    self._active.discard(task)

    async def post_mod_log(self, channel_id: str, text: str) -> None:
        """Post a mod-log summary (attached to the app's ``mod_log``); mentions in it never ping."""
        channel: Any = self.bot.get_channel(int(channel_id))
        if channel is None:
            channel = await self.bot.fetch_channel(int(channel_id))
        if not isinstance(channel, discord.abc.Messageable):
            raise TypeError(f"channel {channel_id} cannot take messages")
        await deliver(channel.send, content=text)

    # -- commands and lifecycle -----------------------------------------------------------
    def install_commands(self) -> int:
        """(Re)build the slash commands from the plugin registry; returns how many top-level."""
        tree = self.bot.tree
        tree.clear_commands(guild=None)
        built = build_app_commands(self.app.registry.unique_commands(), self)
        for command in built:
            tree.add_command(command)
        return len(built)

    async def sync(self, scope: str, guild: discord.abc.Snowflake | None) -> str:
        """Register the slash commands with Discord: ``global``, ``here``, ``clear here`` or ids."""
        words = scope.lower().split()
        tree = self.bot.tree
        try:
            if words == ["global"]:
                synced = await tree.sync()
                return (
                    f"Synced {len(synced)} commands globally. New commands can take a while to "
                    "appear in every server."
                )
            if words in (["here"], ["clear", "here"]):
                if guild is None:
                    return "`sync here` only works in a server."
                if words[0] == "clear":
                    tree.clear_commands(guild=guild)
                    await tree.sync(guild=guild)
                    return "Removed this server's copy of the commands (global ones stay)."
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
                return f"Synced {len(synced)} commands to this server."
            if words and all(w.isdigit() for w in words):
                for word in words:
                    target = discord.Object(id=int(word))
                    tree.copy_global_to(guild=target)
                    await tree.sync(guild=target)
                return f"Synced the commands to {len(words)} server(s)."
        except discord.HTTPException as exc:
            log.warning("command sync failed: %s", exc)
            return f"Sync failed ({exc.status}): {exc.text[:200]}"
        return SYNC_USAGE

    async def setup(self) -> None:
        """Runs in ``setup_hook`` (after login, before the gateway connects)."""
        for guild_id in self.settings.discord.sync_guild_ids:
            target = discord.Object(id=guild_id)
            self.bot.tree.copy_global_to(guild=target)
            try:
                synced = await self.bot.tree.sync(guild=target)
                log.info("synced %d slash commands to guild %s", len(synced), guild_id)
            except discord.HTTPException as exc:
                log.warning("could not sync slash commands to guild %s: %s", guild_id, exc)

    async def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop accepting events, let in-flight work (and pending edits) finish."""
        self.closing = True
        await self.app.router.drain(grace_s)
        await self.app.mod_log.drain()
        active = [t for t in self._active if t is not asyncio.current_task()]
        if active:
            await asyncio.wait(active, timeout=5.0)


class _StoryloomBotMixin:
    storyloom: DiscordAdapter

    async def setup_hook(self) -> None:
        await self.storyloom.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.storyloom.on_message(message)

    async def on_ready(self) -> None:
        bot: Any = self
        log.info(
            "connected to Discord as %s (%s) in %d servers",
            bot.user,
            getattr(bot.user, "id", "?"),
            len(bot.guilds),
        )

    async def on_command_error(
        self, ctx: commands.Context[Any], error: commands.CommandError
    ) -> None:
        if isinstance(error, commands.NotOwner | commands.CheckFailure):
            await deliver(
                ctx.send,
                content="Only the bot's owner can do that.",
                reference=ctx.message.to_reference(fail_if_not_exists=False),
            )
            return
        if isinstance(error, commands.CommandNotFound):
            return
        log.error("prefix command %s failed", ctx.command, exc_info=error)


class StoryloomBot(_StoryloomBotMixin, commands.Bot):
    """The bot for one process (one shard or an unsharded bot)."""


class ShardedStoryloomBot(_StoryloomBotMixin, commands.AutoShardedBot):
    """The bot for large deployments: several shards (or a range of them) in one process."""


AnyBot = StoryloomBot | ShardedStoryloomBot
"""What :func:`build_discord_bot` returns; ``bot.storyloom`` is its :class:`DiscordAdapter`."""


def build_discord_bot(app: App, settings: Settings) -> AnyBot:
    """Build the discord.py bot for ``app`` without connecting (tests drive it directly).

    Uses :class:`~discord.ext.commands.AutoShardedBot` when ``discord.shard_count`` or
    ``discord.shard_ids`` is set. The prefix is ``discord.command_prefix`` (and a mention of the
    bot when ``discord.mention_prefix``). Slash commands are built from the plugins but not
    synced: run the owner-only ``sync`` prefix command, or list ``discord.sync_guild_ids``.
    Mod-log summaries (``app.mod_log``) are posted through this bot from now on.
    """
    config = settings.discord
    prefix: Any = config.command_prefix
    if config.mention_prefix:
        prefix = commands.when_mentioned_or(config.command_prefix)
    options: dict[str, Any] = dict(
        command_prefix=prefix,
        intents=intents_for(settings),
        help_command=None,
        tree_cls=StoryloomTree,
        allowed_mentions=discord.AllowedMentions.none(),
        owner_ids=set(config.owner_ids) or None,
    )
    bot: AnyBot
    if config.shard_ids is not None or config.shard_count is not None:
        options.update(_shard_options(config.shard_count, config.shard_ids))
        bot = ShardedStoryloomBot(**options)
    else:
        bot = StoryloomBot(**options)
    adapter = DiscordAdapter(app, settings, bot)
    bot.storyloom = adapter
    app.mod_log.attach(adapter.post_mod_log)
    bot.add_dynamic_items(ActionButton)
    bot.add_command(_sync_command(adapter))
    adapter.install_commands()
    return bot


def _shard_options(shard_count: int | None, shard_ids: Iterable[int] | None) -> dict[str, Any]:
    ids = list(shard_ids) if shard_ids is not None else None
    if ids is not None and shard_count is None:
        raise ConfigError(
            "discord.shard_ids needs discord.shard_count (the total number of shards)."
        )
    if shard_count is not None and shard_count < 1:
        raise ConfigError("discord.shard_count must be at least 1.")
    if ids is not None and (not ids or any(i < 0 or i >= (shard_count or 0) for i in ids)):
        raise ConfigError(f"discord.shard_ids must be between 0 and {(shard_count or 1) - 1}.")
    return {"shard_count": shard_count, "shard_ids": ids}


def _sync_command(adapter: DiscordAdapter) -> commands.Command[Any, ..., Any]:
    async def sync(ctx: commands.Context[Any], *, scope: str = "") -> None:
        text = await adapter.sync(scope, ctx.guild)
        await deliver(
            ctx.send, content=text, reference=ctx.message.to_reference(fail_if_not_exists=False)
        )

    command: commands.Command[Any, ..., Any] = commands.Command(
        sync, name="sync", hidden=True, help="Register slash commands with Discord (owner only)."
    )
    command.add_check(commands.is_owner().predicate)
    return command
