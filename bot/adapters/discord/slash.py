"""Slash commands generated from the plugins' command declarations.

``CommandSpec.path`` words become nesting: ``"story add"`` is the subcommand ``add`` of the group
``story``; three words add a subcommand group. ``ParamSpec`` types become option types (text,
integer, number, boolean; attachment for :class:`~bot.types.Upload`) with descriptions, choices,
min/max (string lengths for text) and required/optional. Parameters marked ``autocomplete`` ask
the plugin for suggestions; more than 25 choices become a filtered autocomplete list. Admin
commands get Discord ``default_permissions`` (the router checks the permission again, so prefix
commands are covered too).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.plugin import CommandSpec, ParamSpec
from bot.types import Permission, Upload

log = logging.getLogger(__name__)

MAX_CHOICES = 25
MAX_SUBCOMMANDS = 25
MAX_TOP_LEVEL = 100
MAX_OPTION_DESCRIPTION = 100
DEFAULT_SUBCOMMANDS = ("add", "set", "run")
MAX_TEXT_OPTION = 6000


class SlashHandler(Protocol):
    """What a generated slash command calls (the Discord adapter)."""

    async def on_slash(
        self, interaction: discord.Interaction, spec: CommandSpec, options: dict[str, object]
    ) -> None: ...

    async def suggest(
        self, interaction: discord.Interaction, spec: CommandSpec, param: ParamSpec, current: str
    ) -> list[str | int | float]: ...


_PERMISSIONS = {
    Permission.MANAGE_GUILD: discord.Permissions(manage_guild=True),
    Permission.MANAGE_MESSAGES: discord.Permissions(manage_messages=True),
}


def build_app_commands(
    specs: Iterable[CommandSpec], handler: SlashHandler
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """Top-level commands and groups for ``specs``. Specs Discord cannot express are skipped
    with a warning (they still work as prefix commands)."""
    specs = sorted(specs, key=lambda s: s.path)
    leaf_paths = {s.path for s in specs}
    top: dict[str, app_commands.Command[Any, ..., Any] | app_commands.Group] = {}
    groups: dict[str, app_commands.Group] = {}
    group_specs: dict[str, list[CommandSpec]] = {}
    for spec in specs:
        words = slash_words(spec.path, leaf_paths)
        if words is None:
            log.warning(
                "/%s is both a command and a group of subcommands, with no room for a "
                "subcommand name; it is available as a prefix command only",
                spec.path,
            )
            continue
        try:
            command = build_command(spec, handler, name=words[-1])
        except (TypeError, ValueError) as exc:
            log.warning("/%s cannot be a slash command: %s", spec.path, exc)
            continue
        if len(words) == 1:
            if len(top) >= MAX_TOP_LEVEL:
                log.warning(
                    "more than %d top-level commands; /%s is skipped", MAX_TOP_LEVEL, spec.path
                )
                continue
            command.default_permissions = _common_permission([spec])
            command.guild_only = spec.guild_only
            top[spec.path] = command
            continue
        parent: app_commands.Group | None = None
        for depth in range(1, len(words)):
            key = " ".join(words[:depth])
            group = groups.get(key)
            if group is None:
                if parent is None and len(top) >= MAX_TOP_LEVEL:
                    break
                try:
                    group = app_commands.Group(
                        name=words[depth - 1], description=f"{key} commands", parent=parent
                    )  # a parent adopts the group itself
                except (ValueError, app_commands.AppCommandError) as exc:
                    log.warning("no room for the group /%s (%s)", key, exc)
                    parent = None
                    break
                groups[key] = group
                if parent is None:
                    top[key] = group
            parent = group
        if parent is None:
            log.warning("no room for /%s among the top-level commands; skipped", spec.path)
            continue
        try:
            parent.add_command(command)
        except (ValueError, app_commands.AppCommandError) as exc:
            log.warning("no room for /%s in its group (%s); skipped", spec.path, exc)
            continue
        group_specs.setdefault(words[0], []).append(spec)
    for name, members in group_specs.items():
        group = groups[name]
        group.default_permissions = _common_permission(members)
        if all(s.guild_only for s in members):
            group.guild_only = True
        plugins = {s.plugin for s in members}
        if len(plugins) == 1:
            group.description = f"{name} commands ({next(iter(plugins))})"
    return list(top.values())


def slash_words(path: str, leaf_paths: set[str]) -> list[str] | None:
    """The slash command words for ``path``.

    Discord does not allow a command that is also a group (``/story lore`` next to
    ``/story lore list``); such a command becomes a subcommand of its group, named after the first
    free word of :data:`DEFAULT_SUBCOMMANDS` (``/story lore add``). None when it cannot be placed.
    """
    words = path.split()
    if not any(other.startswith(path + " ") for other in leaf_paths):
        return words
    if len(words) >= 3:
        return None
    for name in DEFAULT_SUBCOMMANDS:
        if f"{path} {name}" not in leaf_paths:
            return [*words, name]
    return None


def _common_permission(specs: list[CommandSpec]) -> discord.Permissions | None:
    """Discord sets default permissions per top-level command: use one only if all agree."""
    permissions = {s.permission for s in specs}
    if len(permissions) == 1:
        only = next(iter(permissions))
        return _PERMISSIONS[only] if only is not None else None
    return None


def build_command(
    spec: CommandSpec, handler: SlashHandler, *, name: str
) -> app_commands.Command[Any, ..., Any]:
    """One ``app_commands.Command`` whose callback hands the typed options to ``handler``."""

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        await handler.on_slash(
            interaction, spec, {k: v for k, v in options.items() if v is not None}
        )

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    descriptions: dict[str, str] = {}
    choices: dict[str, list[app_commands.Choice[Any]]] = {}
    completers: dict[str, Any] = {}
    for param in spec.params:
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(param),
                **({} if param.required else {"default": None}),
            )
        )
        descriptions[param.name] = (param.description or param.name)[:MAX_OPTION_DESCRIPTION]
        if param.choices and len(param.choices) <= MAX_CHOICES and not param.autocomplete:
            choices[param.name] = [
                app_commands.Choice(name=str(c)[:100], value=c) for c in param.choices
            ]
        elif param.choices or param.autocomplete:
            completers[param.name] = _completer(spec, param, handler)
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = (
        f"slash_{spec.path.replace(' ', '_').replace('-', '_')}"
    )
    decorated: Any = callback
    if descriptions:
        decorated = app_commands.describe(**descriptions)(decorated)
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    if completers:
        decorated = app_commands.autocomplete(**completers)(decorated)
    command: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name=name,
        description=spec.description,
        callback=decorated,
        extras={"storyloom_path": spec.path, "plugin": spec.plugin},
    )
    return command


def _annotation(param: ParamSpec) -> Any:
    base = param.type
    if base is Upload:
        return discord.Attachment
    if param.choices or base is bool or (param.min is None and param.max is None):
        return base
    cast: Callable[[float], Any] = float if base is float else int
    low = None if param.min is None else cast(param.min)
    high = None if param.max is None else cast(param.max)
    if base is str:  # lengths: Discord allows 0..6000
        low = None if low is None else max(0, min(low, MAX_TEXT_OPTION))
        high = None if high is None else max(1, min(high, MAX_TEXT_OPTION))
        if low is not None and high is not None and low > high:
            low = None
    return app_commands.Range[base, low, high]


def _completer(
    spec: CommandSpec, param: ParamSpec, handler: SlashHandler
) -> Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[Any]]]]:
    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[Any]]:
        if param.autocomplete:
            values = await handler.suggest(interaction, spec, param, current)
        else:
            needle = current.strip().lower()
            values = [c for c in param.choices if needle in str(c).lower()]
        result: list[app_commands.Choice[Any]] = []
        for value in values[:MAX_CHOICES]:
            typed: Any = value
            try:
                typed = param.type(value) if not isinstance(value, param.type) else value
            except (TypeError, ValueError):
                continue
            result.append(app_commands.Choice(name=str(value)[:100], value=typed))
        return result

    return complete
