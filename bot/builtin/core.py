"""Built-in core commands: help, the plugin list, per-guild/per-channel plugin switches, and
``/privacy forget-me`` (a user deletes what they wrote)."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated, ClassVar, Literal, Protocol

from bot.errors import NotFound, UsageError
from bot.plugin import Call, Param, Plugin, PluginContext, command
from bot.records import DeletionReport
from bot.registry import PluginRegistry
from bot.types import Permission, Reply

log = logging.getLogger(__name__)


def user_ref(user_id: str) -> str:
    """How the audit log names a user whose data was deleted: a hash, not the id."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


class PluginSwitches(Protocol):
    """Per-guild / per-channel plugin enablement (storage's scoped settings implement it)."""

    async def is_plugin_enabled(
        self, plugin: str, guild_id: str | None, channel_id: str | None = None
    ) -> bool: ...

    async def set_plugin_enabled(
        self, plugin: str, enabled: bool, guild_id: str | None, channel_id: str | None = None
    ) -> None: ...


class UserData(Protocol):
    """Deletes what one user wrote (storage implements it)."""

    async def delete_user_data(self, user_id: str) -> DeletionReport: ...


def deletion_summary(report: DeletionReport) -> str:
    """One line per kind of data a :class:`~bot.records.DeletionReport` touched."""
    fields = (
        ("turns_anonymised", "story turns emptied and unnamed"),
        ("messages_deleted", "recent messages deleted"),
        ("votes_removed", "votes removed"),
        ("lore_entries_deleted", "lore entries deleted"),
        ("stories_anonymised", "stories no longer name you as their starter"),
        ("story_edits_anonymised", "edit-history entries unnamed"),
        ("moderation_events_anonymised", "moderation-log entries unnamed"),
    )
    return "\n".join(f"- {getattr(report, key)} {label}" for key, label in fields)


class CorePlugin(Plugin):
    """Always loaded; cannot be disabled. Besides its context it sees the plugin registry, the
    plugin switches and user-data deletion, which no other plugin gets."""

    name: ClassVar[str] = "core"
    description: ClassVar[str] = "Help and plugin management."
    can_disable: ClassVar[bool] = False

    def __init__(
        self,
        context: PluginContext,
        *,
        registry: PluginRegistry,
        switches: PluginSwitches,
        users: UserData,
    ) -> None:
        super().__init__(context)
        self.registry = registry
        self._switches = switches
        self._users = users

    @command(
        "help", description="List commands, or explain one.", examples=("/help", "/help story add")
    )
    async def help(
        self,
        call: Call,
        topic: Annotated[str, Param("A command, e.g. 'story add'", rest=True)] = "",
    ) -> str:
        registry = self.registry
        if topic.strip():
            found = registry.resolve(topic.strip().lstrip("/"))
            if found is None:
                raise NotFound(
                    f"There is no command `/{topic.strip()[:40]}`. Type `/help` for the list."
                )
            spec = found[0]
            lines = [f"**/{spec.path}** — {spec.description}", f"Usage: `{spec.usage}`"]
            for p in spec.params:
                extra = f" (one of {', '.join(map(str, p.choices))})" if p.choices else ""
                default = "" if p.required or p.default in (None, "") else f", default {p.default}"
                lines.append(f"• `{p.name}`: {p.description}{extra}{default}")
            if spec.aliases:
                lines.append("Also: " + ", ".join(f"`/{a}`" for a in spec.aliases))
            if spec.examples:
                lines.append("Examples: " + ", ".join(f"`{e}`" for e in spec.examples))
            if spec.permission:
                lines.append(f"Needs the {spec.permission.label} permission.")
            return "\n".join(lines)
        lines = ["**Commands** (type `/help <command>` for details):"]
        for spec in registry.unique_commands():
            lines.append(f"`/{spec.path}` — {spec.description}")
        return "\n".join(lines)

    @command("plugins", description="List plugins and whether they are on here.")
    async def plugins(self, call: Call) -> str:
        registry = self.registry
        lines = ["**Plugins**"]
        for name, plugin in sorted(registry.plugins.items()):
            on = await self._switches.is_plugin_enabled(
                name, call.channel.guild_id, call.channel.channel_id
            )
            lines.append(f"{'🟢' if on else '⚪'} `{name}` — {plugin.description}")
        for failure in registry.failures:
            lines.append(f"🔴 `{failure.name}` failed to load: {failure.reason[:150]}")
        return "\n".join(lines)

    @command(
        "plugin enable",
        description="Turn a plugin on in this server (or only this channel).",
        permission=Permission.MANAGE_GUILD,
        examples=("/plugin enable poem", "/plugin enable poem here=yes"),
    )
    async def enable(
        self,
        call: Call,
        plugin: Annotated[str, Param("Plugin name")],
        here: Annotated[bool, Param("Only this channel")] = False,
    ) -> str:
        return await self._switch(call, plugin, True, here)

    @command(
        "plugin disable",
        description="Turn a plugin off in this server (or only this channel).",
        permission=Permission.MANAGE_GUILD,
        examples=("/plugin disable headline",),
    )
    async def disable(
        self,
        call: Call,
        plugin: Annotated[str, Param("Plugin name")],
        here: Annotated[bool, Param("Only this channel")] = False,
    ) -> str:
        return await self._switch(call, plugin, False, here)

    async def _switch(self, call: Call, name: str, enabled: bool, here: bool) -> str:
        registry = self.registry
        target = registry.plugins.get(name.lower())
        if target is None:
            raise NotFound(f"There is no plugin `{name[:40]}`. Type `/plugins` for the list.")
        if not target.can_disable:
            raise UsageError(f"The `{target.name}` plugin cannot be switched off.")
        if call.channel.guild_id is None and not here:
            here = True
        await self._switches.set_plugin_enabled(
            target.name,
            enabled,
            guild_id=call.channel.guild_id,
            channel_id=call.channel.channel_id if here else None,
        )
        where = "in this channel" if here else "in this server"
        return f"`{target.name}` is now {'on' if enabled else 'off'} {where}."

    @command(
        "privacy forget-me",
        description="Delete or anonymise everything you wrote, in every server (cannot be undone).",
        examples=("/privacy forget-me confirm",),
    )
    async def forget_me(
        self,
        call: Call,
        confirm: Annotated[
            Literal["confirm"], Param("Type confirm: everything you wrote is removed for good")
        ],
    ) -> Reply:
        """Your turns stay in place as "[deleted]" so others' stories still read in order; your
        messages, votes and lore go; stories, edits and logs stop naming you."""
        report = await self._users.delete_user_data(call.author.id)
        log.warning(
            "user data deleted at the user's request: user=%s items=%d",
            user_ref(call.author.id),
            report.total,
        )
        return Reply(
            text=f"Done: what you wrote is gone ({report.total} items).\n"
            + deletion_summary(report),
            ephemeral=True,
        )
