"""The web adapter: room sockets -> the app's router, and the site that serves the page.

One :class:`WebAdapter` per process wraps a started :class:`~bot.app.App`: the same router,
plugins, moderation and storage as on Discord and in the console. :meth:`WebAdapter.site`
builds the Starlette application (page, static files, room creation, downloads, the socket).

Safe by default: room links are unguessable; only the room's creator holds moderator rights;
sockets and form posts from other sites are refused (Origin check); WebSocket messages have a
size limit; chat lines share the router's rate limits; every text reaches the page as data that
the page renders with ``textContent``; every HTTP answer carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.adapters.web.files import FileShelf, download_type
from bot.adapters.web.protocol import Join, Ping, Press, Say, parse_frame
from bot.adapters.web.responder import BOT, WebResponder, message_event, sender_of
from bot.adapters.web.rooms import (
    ADMINS,
    MAX_NAME_CHARS,
    MAX_ROOM_NAME_CHARS,
    Member,
    Room,
    Rooms,
    check_secret,
    clean_name,
    encode,
    user_id,
)
from bot.errors import NotFound, PermissionDenied, RateLimited, UsageError, UserFacingError
from bot.moderation.mentions import neutralize_mentions, sanitize_output
from bot.moderation.types import Direction, ModerationContext
from bot.plugin import CommandSpec
from bot.ratelimit import Limit, RateLimiter
from bot.router import INTERNAL_ERROR, clean_text
from bot.types import Author, Incoming, IncomingKind, Reply

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
JOIN_TIMEOUT_S = 30.0
MAX_IN_FLIGHT = 4
"""Events of one connection being handled at once; more get a "wait a moment" notice."""
MAX_FORM_BYTES = 4096

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_REFUSED: dict[type[UserFacingError], int] = {
    NotFound: 4404,
    PermissionDenied: 4403,
    RateLimited: 4429,
}

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def origin_allowed(headers: Headers, allowed: tuple[str, ...]) -> bool:
    """True for requests without an Origin (not from a browser page), from the page's own
    origin (same host and port as the Host header) or from a configured origin."""
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    parts = urlsplit(origin)
    host = headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


class FrameTooLarge(Exception):
    """A browser sent a WebSocket message over ``web.max_frame_bytes``."""


class WebAdapter:
    """Routes room events through the app's router and serves the playground."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.web = settings.web
        self.max_chars = settings.router.max_message_chars
        self.prefixes = settings.router.prefixes
        self.rooms = Rooms(app.store, app.moderation, history=settings.web.history)
        self.files = FileShelf()
        router = settings.router
        self._say_limits = RateLimiter(Limit(router.user_rate, router.user_per_s))
        self._room_say_limits = RateLimiter(Limit(router.channel_rate, router.channel_per_s))
        self._room_limits = RateLimiter(Limit(settings.web.rooms_per_hour, 3600.0))
        self._members: set[Member] = set()
        self._detach_mod_log = app.mod_log.attach(self.post_mod_log)

    # -- the site -------------------------------------------------------------------------
    def site(self) -> Starlette:
        """The ASGI application: ``/`` (the page), ``/static``, ``POST /api/rooms``,
        ``/files/<token>/<name>`` (downloads), ``/healthz`` and the socket at ``/ws``."""
        return Starlette(
            routes=[
                Route("/", self.page),
                Route("/api/rooms", self.create_room, methods=["POST"]),
                Route("/files/{token}/{name}", self.download),
                Route("/healthz", self.health),
                WebSocketRoute("/ws", self.socket),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ],
        )

    def asgi(self) -> ASGIApp:
        """:meth:`site` wrapped in the security headers."""
        return SecurityHeaders(self.site())

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "connections": len(self._members)})

    async def create_room(self, request: Request) -> Response:
        if not origin_allowed(request.headers, self.web.allowed_origins):
            return _problem(403, "Rooms can only be started from this site's own page.")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _problem(413, "That request is too large.")
        address = request.client.host if request.client else "-"
        wait = self._room_limits.hit(address)
        if wait:
            minutes = max(1, math.ceil(wait / 60))
            return _problem(429, f"You have started many rooms; try again in {minutes} min.")
        try:
            data = _json_object(body)
            name = clean_name(
                data.get("name", ""), what="room name", limit=MAX_ROOM_NAME_CHARS, required=False
            )
            token, admin_key, room = await self.rooms.create(name)
        except UserFacingError as exc:
            return _problem(400, exc.user_message)
        return JSONResponse(
            {"room": token, "admin": admin_key, "name": room.info.name},
            status_code=201,
            headers={"cache-control": "no-store"},
        )

    async def download(self, request: Request) -> Response:
        attachment = self.files.get(request.path_params["token"])
        if attachment is None:
            return _problem(404, "That file is gone (files are kept for an hour). Export again.")
        name = attachment.filename
        fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
        return Response(
            attachment.data,
            media_type=download_type(attachment),
            headers={
                "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''"
                + quote(name, safe=""),
                "cache-control": "no-store",
            },
        )

    # -- the socket -----------------------------------------------------------------------
    async def socket(self, ws: WebSocket) -> None:
        if not origin_allowed(ws.headers, self.web.allowed_origins):
            log.info("refused a room socket from origin %s", ws.headers.get("origin", "?")[:100])
            await ws.close(code=CLOSE_POLICY)
            return
        await ws.accept()
        try:
            joined = await self._accept_join(ws)
            if joined is None:
                return
            room, member = joined
            writer = asyncio.create_task(self._write(ws, member))
            try:
                await self._read(ws, room, member)
            finally:
                room.remove(member)
                self._members.discard(member)
                await writer
        except WebSocketDisconnect:
            return

    async def _accept_join(self, ws: WebSocket) -> tuple[Room, Member] | None:
        try:
            try:
                raw = await asyncio.wait_for(self._receive(ws), JOIN_TIMEOUT_S)
            except TimeoutError:
                raise UsageError("Join the room first.") from None
            except FrameTooLarge:
                raise UsageError("That message is too large.") from None
            frame = parse_frame(raw)
            if not isinstance(frame, Join):
                raise UsageError("Join the room first.")
            return await self._join(frame)
        except UserFacingError as exc:
            code = next((c for t, c in CLOSE_REFUSED.items() if isinstance(exc, t)), 4400)
            text = exc.user_message
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception("unhandled error %s while someone joined a room", error_id)
            code, text = 1011, INTERNAL_ERROR.format(error_id=error_id)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.send_text(encode({"type": "refused", "text": text}))
            await ws.close(code=code)
        return None

    async def _join(self, frame: Join) -> tuple[Room, Member]:
        token = check_secret(frame.room, "room link")
        client = check_secret(frame.client, "browser id")
        room = await self.rooms.open(token)
        name = clean_name(frame.name, what="name", limit=MAX_NAME_CHARS)
        author_id = user_id(client)
        await self.rooms.check_name(name, room.channel, "name")
        # No await from here on: two people joining at once cannot both take a name or a seat.
        if room.name_taken(name, author_id):
            raise UsageError(f"Someone in this room is already called {name}. Pick another name.")
        if len(room.members) >= self.web.max_people_per_room:
            raise PermissionDenied("This room is full. Ask its creator to start another one.")
        admin = room.info.is_admin_key(frame.admin)
        author = Author(id=author_id, name=name, permissions=ADMINS if admin else frozenset())
        member = Member(author)
        member.put(
            encode(
                {
                    "type": "welcome",
                    "room": {"name": room.info.name},
                    "you": {"id": author.id, "name": name, "admin": admin},
                    "history": list(room.history.values()),
                    "limits": {"chars": self.max_chars, "bytes": self.web.max_frame_bytes},
                }
            )
        )
        room.add(member)
        self._members.add(member)
        log.debug("%s joined web room %s", author.id, room.info.id)
        return room, member

    async def _receive(self, ws: WebSocket) -> str:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            if len(data) > self.web.max_frame_bytes:
                raise FrameTooLarge
            return '{"type": "binary"}'
        if len(text) > self.web.max_frame_bytes or len(text.encode()) > self.web.max_frame_bytes:
            raise FrameTooLarge
        return str(text)

    async def _write(self, ws: WebSocket, member: Member) -> None:
        """Send the member's outbox in order; close the socket when the member is closed."""
        try:
            while True:
                frame = await member.outbox.get()
                if frame is None or member.overflowed:
                    break
                await ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            member.close()
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await ws.close(code=member.close_code)

    async def _read(self, ws: WebSocket, room: Room, member: Member) -> None:
        while not member.closed:
            try:
                raw = await self._receive(ws)
            except FrameTooLarge:
                self._error(
                    member,
                    f"That message is larger than {self.web.max_frame_bytes:,} bytes; the "
                    "connection was closed. Reload the page to rejoin.",
                )
                member.close(CLOSE_TOO_BIG)
                return
            except WebSocketDisconnect:
                return
            try:
                frame = parse_frame(raw)
            except UsageError as exc:
                self._error(member, exc.user_message)
                continue
            if isinstance(frame, Say):
                await self._say(room, member, frame.text)
            elif isinstance(frame, Press):
                self._press(room, member, frame.action)
            elif isinstance(frame, Ping):
                member.put(encode({"type": "pong"}))
            else:
                self._error(member, "You are already in this room.")

    def _error(self, member: Member, text: str) -> None:
        member.put(encode({"type": "error", "text": text}))

    def _notice(self, room: Room, member: Member, text: str) -> None:
        reply = Reply(text=text, ephemeral=True)
        room.tell(
            member.author.id,
            message_event(room.next_id(), reply, sender=BOT, files=self.files, private=True),
        )

    def _busy(self, room: Room, member: Member) -> bool:
        if member.in_flight >= MAX_IN_FLIGHT:
            self._notice(room, member, "Wait a moment: I'm still on your last messages.")
            return True
        return False

    async def _say(self, room: Room, member: Member, text: str) -> None:
        if not text.strip() or self._busy(room, member):
            return
        author = member.author
        wait = self._say_limits.hit(author.id) or self._room_say_limits.hit(room.info.id)
        if wait:
            self._notice(room, member, f"Slow down a little — try again in {max(1, round(wait))}s.")
            return
        text = clean_text(text)
        message_id = room.next_id()
        if len(text) <= self.max_chars:  # longer ones are refused by the router, not shown
            await self._echo(room, member, message_id, text)
        incoming = Incoming(channel=room.channel, author=author, text=text, message_id=message_id)
        self._dispatch(room, member, incoming)

    async def _echo(self, room: Room, member: Member, message_id: str, text: str) -> None:
        """Show a player's line to the room, unless the room's filters would block it (then
        only its author sees it; the router tells them why when it handles the line). Commands
        that skip the filters (moderators' ``/mod words add ...``) are shown only to their
        author too, so the words a moderator forbids are not posted to the room."""
        verdict = await self.app.moderation.check(
            text,
            ModerationContext.for_channel(Direction.INPUT, room.channel, member.author.id),
            record=False,
        )
        command = self._command_of(text)
        private = verdict.blocked or (command is not None and not command.moderated)
        event = message_event(
            message_id,
            Reply(text=sanitize_output(text)),
            sender=sender_of(member.author),
            files=self.files,
            private=private,
            command=text.startswith(self.prefixes),
        )
        if verdict.blocked:
            event["withheld"] = True
        if private:
            room.tell(member.author.id, event)
        else:
            room.broadcast(event, keep=True)

    def _command_of(self, text: str) -> CommandSpec | None:
        for prefix in self.prefixes:
            if text.startswith(prefix):
                found = self.app.registry.resolve(text[len(prefix) :])
                return found[0] if found else None
        return None

    def _press(self, room: Room, member: Member, action: str) -> None:
        if self._busy(room, member):
            return
        if not room.offered(action):
            self._notice(room, member, "That button no longer works. Try the command instead.")
            return
        incoming = Incoming(
            channel=room.channel,
            author=member.author,
            kind=IncomingKind.ACTION,
            action_id=action,
            message_id=room.next_id(),
        )
        self._dispatch(room, member, incoming)

    def _dispatch(self, room: Room, member: Member, incoming: Incoming) -> None:
        member.in_flight += 1
        task = self.app.router.dispatch(incoming, WebResponder(room, member.author, self.files))

        def done(_: asyncio.Task[None]) -> None:
            member.in_flight -= 1

        task.add_done_callback(done)

    # -- the mod-log ----------------------------------------------------------------------
    async def post_mod_log(self, channel_id: str, text: str) -> None:
        """Mod-log summaries (``/mod log here``) go to the room's admins only."""
        room = self.rooms.find(channel_id)
        if room is None:
            log.debug("mod-log summary for a room that is not open; dropped")
            return
        sender = {"id": "mod-log", "name": "mod-log", "bot": True}
        reply = Reply(text=neutralize_mentions(text))
        event = message_event(room.next_id(), reply, sender=sender, files=self.files, private=True)
        room.tell_admins(event)

    async def close(self) -> None:
        """Disconnect every browser (their pages reconnect when the server is back)."""
        self._detach_mod_log()
        for member in list(self._members):
            member.close(1012)


def _problem(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise UsageError("The request must be a JSON object.") from None
    if not isinstance(data, dict):
        raise UsageError("The request must be a JSON object.")
    return data
