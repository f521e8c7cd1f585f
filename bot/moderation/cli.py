"""``storyloom moderate``: moderate lines from stdin, one JSON verdict per line on stdout."""

from __future__ import annotations

import asyncio
import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, TextIO

import typer

from bot.errors import ConfigError
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.settings import ModerationSettings
from bot.moderation.types import Direction, GuildRules, ModerationContext


def load_guild_rules(path: Path) -> GuildRules:
    """Read GuildRules from a JSON or TOML file (TOML: top-level keys or a [moderation] table)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read guild config {path}: {exc}") from exc
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"guild config {path} is not valid TOML: {exc}") from exc
        return GuildRules.from_dict(data.get("moderation", data))
    return GuildRules.from_json(raw)


def _text_of(line: str) -> str:
    stripped = line.rstrip("\r\n")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped
        text = data.get("text") if isinstance(data, dict) else None
        if isinstance(text, str):
            return text
    return stripped


def run_moderate(
    lines: TextIO,
    out: TextIO,
    *,
    rules: GuildRules | None = None,
    direction: Direction = Direction.INPUT,
    nsfw: bool = False,
    settings: ModerationSettings | None = None,
) -> int:
    """Moderate every line of ``lines``; returns how many were blocked."""
    pipeline = ModerationPipeline(settings or ModerationSettings())
    ctx = ModerationContext(direction=direction, nsfw=nsfw)
    blocked = 0
    for line in lines:
        verdict = pipeline.check_sync(_text_of(line), ctx, rules)
        blocked += verdict.blocked
        out.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
        out.flush()
    return blocked


async def moderate_stream(
    settings: ModerationSettings,
    lines: TextIO,
    out: TextIO,
    *,
    guild_config: Path | None = None,
    direction: Direction = Direction.INPUT,
    nsfw: bool = False,
) -> int:
    """Async entry point for ``storyloom moderate`` (the lead's CLI runs it in its event loop).

    Reads ``lines`` on a worker thread, so the loop never blocks on stdin; raises
    :class:`ConfigError` for an unreadable guild config. Returns how many lines were blocked.
    """
    rules = load_guild_rules(guild_config) if guild_config else None
    pipeline = await asyncio.to_thread(ModerationPipeline, settings)
    ctx = ModerationContext(direction=direction, nsfw=nsfw)
    blocked = 0
    while line := await asyncio.to_thread(lines.readline):
        verdict = pipeline.check_sync(_text_of(line), ctx, rules)
        blocked += verdict.blocked
        out.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
        out.flush()
    return blocked


def moderate(
    guild_config: Annotated[
        Path | None,
        typer.Option("--guild-config", help="a server's rules as JSON or TOML (GuildRules)"),
    ] = None,
    direction: Annotated[
        Direction, typer.Option(help="moderate as user input or as model output")
    ] = Direction.INPUT,
    nsfw: Annotated[bool, typer.Option("--nsfw", help="apply NSFW-channel relaxations")] = False,
) -> None:
    """Read lines (or JSON lines {"text": ...}) from stdin; print one JSON verdict per line."""
    try:
        rules = load_guild_rules(guild_config) if guild_config else None
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    run_moderate(sys.stdin, sys.stdout, rules=rules, direction=direction, nsfw=nsfw)


app = typer.Typer(help="Moderation tools.")
app.command("moderate")(moderate)
