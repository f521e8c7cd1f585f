"""The console adapter: a terminal that behaves like one Discord server with several people in it.

Two modes:

* interactive (``storyloom play``): type messages and ``/commands``; ``/as NAME`` switches who is
  speaking, ``/channel NAME`` which channel, ``/attach PATH`` attaches a file to your next message
  (``/story import``); streamed replies grow in place.
* scripted (``storyloom play --jsonl``): JSON lines ``{"user", "channel", "text"}`` in (``user`` and
  ``channel`` optional; ``"action"`` presses a button by its id; ``"permissions"`` lists
  ``manage_messages``/``manage_guild``; ``"nsfw"`` marks the channel; ``"attachments"`` is a list
  of files ``{"filename", "text"}`` or ``{"filename", "base64"}``), one JSON line per bot output
  out: ``{"channel", "reply_to", "kind": "message"|"edit"|"notice"|"error"|"mod-log", "id", "text"}``.
  Lines of one channel are handled in order; channels run concurrently. ``mod-log`` records are
  the summaries a server's mod-log channel gets (``/mod log here``); their ``reply_to`` is null.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.moderation.mentions import neutralize_mentions
from bot.types import (
    Author,
    ChannelRef,
    Incoming,
    IncomingKind,
    Permission,
    Reply,
    SentMessage,
    Upload,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CONSOLE_GUILD = "console"
DEFAULT_CHANNEL = "main"
DEFAULT_USER = "player"
MAX_LINE_CHARS = 8_000_000
"""A script line may carry attached files, so lines are allowed to be long."""
MAX_ATTACH_BYTES = 8_000_000
"""The largest file ``/attach`` reads (commands set their own, smaller, limits)."""

Emit = Callable[[dict[str, Any]], None]


def _user_id(name: str) -> str:
    return f"u-{name.strip().lower()}"


class ScriptError(ValueError):
    """A script line that cannot be used; becomes an ``error`` output line."""


def parse_line(raw: str, number: int) -> Incoming:
    """Parse one JSON line into an Incoming, or raise ScriptError with a helpful message."""
    if len(raw) > MAX_LINE_CHARS:
        raise ScriptError(f"line {number}: longer than {MAX_LINE_CHARS:,} characters; skipped")
    try:
        data = json.loads(raw.removeprefix("\ufeff"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ScriptError(
            f"line {number}: not valid JSON ({exc.__class__.__name__}); "
            'expected {"user": "...", "channel": "...", "text": "..."}'
        ) from None
    if not isinstance(data, dict):
        raise ScriptError(f"line {number}: expected a JSON object, got {type(data).__name__}")
    user = data.get("user", DEFAULT_USER)
    channel = data.get("channel", DEFAULT_CHANNEL)
    text = data.get("text", "")
    action = data.get("action")
    perms = data.get("permissions", [])
    for key, value in (("user", user), ("channel", channel), ("text", text)):
        if not isinstance(value, str):
            raise ScriptError(f'line {number}: "{key}" must be a string')
    if action is not None and not isinstance(action, str):
        raise ScriptError(f'line {number}: "action" must be a string')
    if not user.strip() or not channel.strip():
        raise ScriptError(f'line {number}: "user" and "channel" may not be empty')
    nsfw = data.get("nsfw", False)
    if not isinstance(nsfw, bool):
        raise ScriptError(f'line {number}: "nsfw" must be true or false')
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        raise ScriptError(f'line {number}: "permissions" must be a list of strings')
    try:
        permissions = frozenset(Permission(p) for p in perms)
    except ValueError:
        raise ScriptError(
            f"line {number}: permissions may be {[p.value for p in Permission]}"
        ) from None
    attachments = _attachments(data.get("attachments", []), number)
    author = Author(id=_user_id(user), name=user.strip()[:80], permissions=permissions)
    ref = ChannelRef(
        channel_id=channel.strip()[:100],
        guild_id=CONSOLE_GUILD,
        name=channel.strip()[:100],
        nsfw=nsfw,
    )
    message_id = f"in-{number}"
    if action:
        return Incoming(
            channel=ref,
            author=author,
            kind=IncomingKind.ACTION,
            action_id=action,
            message_id=message_id,
        )
    return Incoming(
        channel=ref, author=author, text=text, message_id=message_id, attachments=attachments
    )


def _attachments(files: object, number: int) -> tuple[Upload, ...]:
    """``"attachments": [{"filename": ..., "text" | "base64": ...}]`` as uploads."""
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise ScriptError(f'line {number}: "attachments" must be a list of objects')
    uploads = []
    for f in files:
        name = f.get("filename")
        if not isinstance(name, str) or not name.strip():
            raise ScriptError(f'line {number}: each attachment needs a "filename" string')
        if isinstance(f.get("text"), str):
            data = f["text"].encode("utf-8", "surrogatepass")
        elif isinstance(f.get("base64"), str):
            try:
                data = base64.b64decode(f["base64"], validate=True)
            except ValueError:
                raise ScriptError(f'line {number}: "{name}": "base64" is not base64') from None
        else:
            raise ScriptError(f'line {number}: "{name}" needs "text" or "base64" (a string)')
        uploads.append(Upload.of_bytes(name.strip()[:200], data))
    return tuple(uploads)


class RecordingResponder:
    """Answers one incoming event by emitting JSON-ready records."""

    _ids = itertools.count(1)

    def __init__(self, incoming: Incoming, emit: Emit) -> None:
        self._incoming = incoming
        self._emit = emit

    def _record(self, kind: str, message_id: str, reply: Reply) -> dict[str, Any]:
        record: dict[str, Any] = {
            "channel": self._incoming.channel.channel_id,
            "reply_to": self._incoming.message_id,
            "kind": kind,
            "id": message_id,
            "text": reply.text,
        }
        if reply.buttons:
            record["buttons"] = [
                {"action_id": b.action_id, "label": b.label} for b in reply.buttons
            ]
        if reply.attachments:
            record["attachments"] = [_attachment(a.filename, a.data) for a in reply.attachments]
        return record

    async def send(self, reply: Reply) -> SentMessage:
        message_id = f"out-{next(self._ids)}"
        self._emit(self._record("notice" if reply.ephemeral else "message", message_id, reply))
        return SentMessage(id=message_id, channel_id=self._incoming.channel.channel_id)

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        self._emit(self._record("edit", message.id, reply))

    @asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        yield


def _attachment(filename: str, data: bytes) -> dict[str, str]:
    try:
        return {"filename": filename, "text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"filename": filename, "base64": base64.b64encode(data).decode("ascii")}


async def run_jsonl(
    app: App,
    lines: Iterable[str] | AsyncIterator[str],
    emit: Emit | None = None,
    *,
    done_records: bool = False,
) -> list[dict[str, Any]]:
    """Feed a script through the router; returns (and emits, if given) every output record.

    With ``done_records`` every input line, once fully handled, is followed by a record of kind
    ``done`` that answers it (drivers that wait for each line use it; ``bench/scale.py``)."""
    records: list[dict[str, Any]] = []

    def out(record: dict[str, Any]) -> None:
        records.append(record)
        if emit is not None:
            emit(record)

    queues: dict[str, asyncio.Queue[Incoming | None]] = {}
    workers: list[asyncio.Task[None]] = []

    async def worker(queue: asyncio.Queue[Incoming | None]) -> None:
        while (incoming := await queue.get()) is not None:
            await app.router.handle(incoming, RecordingResponder(incoming, out))
            if done_records:
                out(
                    {
                        "channel": incoming.channel.channel_id,
                        "reply_to": incoming.message_id,
                        "kind": "done",
                        "id": None,
                        "text": "",
                    }
                )

    async def feed(raw: str, number: int) -> None:
        if not raw.strip():
            return
        try:
            incoming = parse_line(raw, number)
        except ScriptError as exc:
            out(
                {
                    "channel": None,
                    "reply_to": f"in-{number}",
                    "kind": "error",
                    "id": None,
                    "text": str(exc),
                }
            )
            return
        queue = queues.get(incoming.channel.channel_id)
        if queue is None:
            queue = queues[incoming.channel.channel_id] = asyncio.Queue()
            workers.append(asyncio.create_task(worker(queue)))
        await queue.put(incoming)

    async def post_mod_log(channel_id: str, text: str) -> None:
        out(
            {
                "channel": channel_id,
                "reply_to": None,
                "kind": "mod-log",
                "id": None,
                "text": neutralize_mentions(text),
            }
        )

    detach = app.mod_log.attach(post_mod_log)
    try:
        number = 0
        if isinstance(lines, AsyncIterator):
            async for raw in lines:
                number += 1
                await feed(raw, number)
        else:
            for raw in lines:
                number += 1
                await feed(raw, number)
        for queue in queues.values():
            await queue.put(None)
        await asyncio.gather(*workers)
        await app.mod_log.drain()
    finally:
        detach()
    return records


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from standard input, read off the event loop; undecodable bytes are replaced."""
    import sys

    reader = sys.stdin.buffer
    while True:
        raw = await asyncio.to_thread(reader.readline)
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


# -- interactive ------------------------------------------------------------------------------


async def read_attachment(name: str, limit: int = MAX_ATTACH_BYTES) -> Upload:
    """The file at ``name`` (``~`` expanded) as an upload, read off the event loop; ValueError
    when it is over ``limit`` bytes or not a file."""

    def read() -> Upload:
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{path} is larger than {limit:,} bytes")
        return Upload.of_bytes(path.name, data)

    return await asyncio.to_thread(read)


class LiveResponder:
    """Prints replies to a rich console; edits re-render the growing message in place."""

    def __init__(self, console: Any, incoming: Incoming) -> None:
        self._console = console
        self._incoming = incoming
        self._live: Any = None
        self._live_id: str | None = None
        self._counter = itertools.count(1)

    def _render(self, reply: Reply) -> Any:
        from rich.markdown import Markdown
        from rich.panel import Panel

        title = "only you can see this" if reply.ephemeral else "storyloom"
        body = reply.text or ""
        if reply.buttons:
            body += "\n\n" + "  ".join(f"[{b.label}: {b.action_id}]" for b in reply.buttons)
        for a in reply.attachments:
            body += f"\n\n📎 {a.filename} ({len(a.data):,} bytes)"
        return Panel(
            Markdown(body),
            title=title,
            title_align="left",
            border_style="yellow" if reply.ephemeral else "cyan",
        )

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    async def send(self, reply: Reply) -> SentMessage:
        from rich.live import Live

        self.finish()
        message_id = f"out-{next(self._counter)}"
        self._live = Live(self._render(reply), console=self._console, refresh_per_second=8)
        self._live.start()
        self._live_id = message_id
        return SentMessage(id=message_id, channel_id=self._incoming.channel.channel_id)

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        if self._live is not None and message.id == self._live_id:
            self._live.update(self._render(reply))
        else:
            self._console.print(self._render(reply))

    @asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        yield


INTERACTIVE_HELP = """\
Type a message to talk in the channel, or a command such as `/story start A dragon who is afraid of the dark`.
Console commands: `/as NAME` speak as someone else · `/channel NAME` switch channel · `/press ACTION_ID` press a button
· `/attach PATH` attach a file to your next message · `/mod on|off` toggle moderator rights · `/quit`. Bot commands: `/help` (`/mod rules` etc. are the bot's).
"""


async def run_interactive(
    app: App, *, user: str = DEFAULT_USER, channel: str = DEFAULT_CHANNEL
) -> None:
    """A read-eval-print loop that behaves like one Discord channel."""
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console()
    console.print(Markdown(INTERACTIVE_HELP))

    async def post_mod_log(channel_id: str, text: str) -> None:
        from rich.panel import Panel
        from rich.text import Text

        console.print(
            Panel(
                Text(neutralize_mentions(text)),
                title=f"mod-log #{channel_id}",
                title_align="left",
                border_style="red",
            )
        )

    app.mod_log.attach(post_mod_log)
    moderator = True
    number = 0
    attached: list[Upload] = []
    while True:
        try:
            line = await asyncio.to_thread(
                console.input, f"[bold green]{user}[/] in [bold]#{channel}[/]> "
            )
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        number += 1
        stripped = line.strip()
        if stripped in ("/quit", "/exit"):
            return
        if stripped.startswith("/as "):
            user = stripped[4:].strip()[:80] or user
            continue
        if stripped.startswith("/channel "):
            channel = stripped[9:].strip().lstrip("#")[:100] or channel
            continue
        if stripped.startswith("/attach "):
            try:
                upload = await read_attachment(stripped[8:].strip())
            except (OSError, ValueError) as exc:
                console.print(f"cannot attach: {exc}", style="red", markup=False)
                continue
            attached.append(upload)
            console.print(
                f"📎 {upload.filename} ({upload.size:,} bytes) goes with your next message",
                markup=False,
            )
            continue
        if stripped in ("/mod on", "/mod off"):  # other /mod commands are the bot's
            moderator = stripped.endswith("on")
            console.print(f"moderator rights {'on' if moderator else 'off'} for everyone")
            continue
        perms = frozenset(Permission) if moderator else frozenset()
        author = Author(id=_user_id(user), name=user, permissions=perms)
        ref = ChannelRef(channel_id=channel, guild_id=CONSOLE_GUILD, name=channel)
        if stripped.startswith("/press "):
            incoming = Incoming(
                channel=ref,
                author=author,
                kind=IncomingKind.ACTION,
                action_id=stripped[7:].strip(),
                message_id=f"in-{number}",
            )
        else:
            incoming = Incoming(
                channel=ref,
                author=author,
                text=line,
                message_id=f"in-{number}",
                attachments=tuple(attached),
            )
            attached.clear()
        responder = LiveResponder(console, incoming)
        try:
            await app.router.handle(incoming, responder)
        finally:
            responder.finish()
