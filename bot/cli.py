"""The ``storyloom`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot import __version__
from bot.errors import ConfigError, StoryloomError

T = TypeVar("T")

app = typer.Typer(
    name="storyloom",
    help="storyloom: collaborative storytelling for Discord, with a shared text-generation service.\n\n"
    "Try it in a terminal with `storyloom play` or in the browser with `storyloom web`; run the "
    "Discord bot with `storyloom run`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML settings file (default: $STORYLOOM_CONFIG, else built-in defaults).",
        exists=False,
        dir_okay=False,
    ),
]


def _settings(config: Path | None, *, quiet: bool = False, **overrides: Any) -> Any:
    """Load settings once and set up logging. ``quiet``: the terminal is the user interface, so
    only warnings are logged unless a log level was configured explicitly."""
    from bot.config import load_settings
    from bot.logs import configure_logging

    settings = load_settings(config, **overrides)
    if quiet and "level" not in settings.logging.model_fields_set:
        settings.logging.level = "WARNING"
    token = settings.discord.token.get_secret_value() if settings.discord.token else ""
    configure_logging(settings.logging, secrets=[token])
    return settings


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` with SIGINT/SIGTERM cancelling it (its ``finally`` blocks shut down cleanly)."""

    async def runner() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        return await main()

    try:
        return asyncio.run(runner())
    except (KeyboardInterrupt, asyncio.CancelledError):
        typer.secho("stopped.", err=True)
        raise typer.Exit(130) from None
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except StoryloomError as exc:
        raise _fail(f"{exc}") from None


@app.command()
def version() -> None:
    """Print storyloom's version."""
    typer.echo(f"storyloom {__version__}")


@app.command()
def play(
    config: ConfigOption = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Scripted mode: JSON lines in on stdin, JSON lines out.")
    ] = False,
    user: Annotated[
        str, typer.Option(help="Who you are at the start (interactive mode).")
    ] = "player",
    channel: Annotated[
        str, typer.Option(help="The channel you start in (interactive mode).")
    ] = "main",
) -> None:
    """Play in the terminal, as if in one Discord server with several people.

    Interactive: type messages and /commands; /as NAME switches speaker, /attach PATH attaches a
    file to your next message (/story import), /help lists commands.

    Scripted (--jsonl): each input line is {"user": "...", "channel": "...", "text": "..."} (user and
    channel optional; "attachments": [{"filename": "...", "text": "..."}] attaches files, "base64"
    instead of "text" for bytes); each output line is {"channel", "reply_to", "kind", "id", "text"}
    with kind message, edit, notice or error. Exits when input ends and all work is done.
    """
    settings = _settings(config, quiet=True)

    async def main() -> None:
        from bot.adapters.console import run_interactive, run_jsonl, stdin_lines
        from bot.app import App

        app_ = await App.create(settings)
        try:
            if jsonl:

                def emit(record: dict[str, Any]) -> None:
                    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
                    sys.stdout.flush()

                await run_jsonl(app_, stdin_lines(), emit)
            else:
                await run_interactive(app_, user=user, channel=channel)
        finally:
            await asyncio.shield(app_.close())

    _run(main)


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the Discord bot (token from STORYLOOM_DISCORD__TOKEN, DISCORD_TOKEN or the config file).

    Prometheus metrics and /healthz are served on 127.0.0.1:9464 unless [metrics] says otherwise.
    """
    settings = _settings(config)
    settings.discord.require_token()
    if settings.metrics.enabled is None:
        settings.metrics.enabled = True
    from bot.adapters.discord import run_discord

    _run(lambda: run_discord(settings))


@app.command()
def web(
    config: ConfigOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for "
            "every network interface)."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default 8080; 0 picks a free one).")
    ] = None,
) -> None:
    """Play in the browser: group story rooms with the same plugins, moderation and storage.

    Open the printed address, start a room and share its link; people join with the link and a
    nickname. The room's creator holds its moderator rights. Uses the bundled model and a SQLite
    file in data_dir unless the config says otherwise; [web] settings hold the limits.
    """
    settings = _settings(config, quiet=True)
    if host is not None:
        settings.web.host = host
    if port is not None:
        settings.web.port = port
    if "stream_edit_interval_s" not in settings.router.model_fields_set:
        settings.router.stream_edit_interval_s = settings.web.stream_edit_interval_s
    try:
        from bot.adapters.web import run_web
    except ModuleNotFoundError as exc:
        raise _fail(
            f"the web playground needs the 'web' extra ({exc.name} is missing): "
            'pip install "storyloom[web]"'
        ) from None

    def announce(url: str) -> None:
        typer.secho(f"storyloom web is running at {url} (Ctrl+C stops it)", fg="green", err=True)

    _run(lambda: run_web(settings, announce=announce))


@app.command("serve-model")
def serve_model(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the generation service as an OpenAI-compatible HTTP server (/v1/completions, streaming).

    Several bot processes (Discord shards) can then share one model: set
    generation.backend = "openai" and generation.base_url = "http://HOST:PORT/v1" on each.
    """
    settings = _settings(config)
    from bot.generation.server import serve

    _run(lambda: serve(settings.generation, host=host, port=port))


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Upgrade the database to the newest schema (also done automatically on start)."""
    settings = _settings(config)
    from storage.migrate import upgrade

    url = str(settings.resolved_storage().url)
    _run(lambda: upgrade(url))
    typer.echo(f"database is up to date: {_safe_url(url)}")


@app.command()
def moderate(
    config: ConfigOption = None,
    guild_config: Annotated[
        Path | None, typer.Option(help="A server's moderation rules (JSON or TOML).")
    ] = None,
) -> None:
    """Check texts from stdin (plain lines or {"text": ...} JSON lines); print one JSON verdict per line."""
    settings = _settings(config)
    from bot.moderation.cli import moderate_stream

    _run(
        lambda: moderate_stream(
            settings.moderation, sys.stdin, sys.stdout, guild_config=guild_config
        )
    )


@app.command("forget-user")
def forget_user(
    user_id: Annotated[str, typer.Argument(help="The user's id (a Discord user id).")],
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete or anonymise everything a user wrote (a data-deletion request); cannot be undone."""
    settings = _settings(config)
    if not yes:
        typer.confirm(f"Delete everything user {user_id} wrote? This cannot be undone", abort=True)

    async def main() -> None:
        from bot.builtin.core import deletion_summary, user_ref
        from storage.store import open_store

        store = await open_store(settings.resolved_storage())
        try:
            report = await store.delete_user_data(user_id)
        finally:
            await store.close()
        logging.getLogger("bot.builtin.core").warning(
            "user data deleted by an operator: user=%s items=%d", user_ref(user_id), report.total
        )
        typer.echo(f"{report.total} items deleted or anonymised:\n{deletion_summary(report)}")

    _run(main)


@app.command()
def export(
    config: ConfigOption = None,
    story_id: Annotated[int | None, typer.Option(help="The story to export.")] = None,
    channel: Annotated[
        str | None, typer.Option(help="Export the active (or latest) story of this channel key.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or json.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export a story as Markdown or JSON (JSON can be imported back with /story import)."""
    settings = _settings(config)
    from storage.export_command import export_command

    _run(
        lambda: export_command(
            settings.resolved_storage(), story_id=story_id, channel=channel, fmt=fmt, out=out
        )
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
