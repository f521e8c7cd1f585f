"""Rooms: each room is a channel in a server of its own; its link is a secret.

A room's link carries a random token (``secrets.token_urlsafe``, 128 bits) in the URL fragment,
so it never reaches server logs or Referer headers. The server keeps only hashes: the room's
channel id is derived from the token, and the creator's admin key is stored hashed in the
scoped settings (namespace ``web``), so rooms survive restarts and a database dump gives away
neither the links nor the admin keys. The admin (the room's creator) holds the moderator
permissions the router checks (Manage Server), inside that room's own server only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import re
import secrets
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.errors import NotFound, StateError, UsageError
from bot.moderation.types import Direction, ModerationContext
from bot.router import Moderator
from bot.types import Author, ChannelRef, Permission
from storage import Store

log = logging.getLogger(__name__)

NAMESPACE = "web"
GUILD_PREFIX = "web-"
TOKEN_BYTES = 16
SECRET = re.compile(r"[A-Za-z0-9_-]{20,128}")
"""What room tokens, admin keys and browser ids look like (URL-safe base64)."""
MAX_NAME_CHARS = 32
MAX_ROOM_NAME_CHARS = 60
BOT_NAME = "storyloom"
OUTBOX_SIZE = 1000
"""Events waiting for one slow browser; beyond this it is disconnected (it can reconnect)."""
MAX_ACTIONS = 2000
ADMINS = frozenset(Permission)


def new_secret() -> str:
    """An unguessable URL-safe secret (128 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """The SHA-256 hex digest of a secret: what the server keeps instead of the secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def room_id(token: str) -> str:
    """The room's channel id: derived from its token, useless for finding the token."""
    return digest(token)[:24]


def user_id(client_secret: str) -> str:
    """A browser's stable author id (for turns, votes, rate limits), from its private secret."""
    return "web-" + digest(client_secret)[:20]


def check_secret(value: object, what: str) -> str:
    if not isinstance(value, str) or not SECRET.fullmatch(value):
        raise UsageError(f"That {what} is not valid. Open the room link again.")
    return value


def clean_name(value: object, *, what: str, limit: int, required: bool = True) -> str:
    """A display name: NFKC, one line, collapsed spaces, no control characters, ``limit`` long."""
    if not isinstance(value, str):
        raise UsageError(f"The {what} must be text.")
    text = unicodedata.normalize("NFKC", value)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = " ".join(text.split())
    if required and not text:
        raise UsageError(f"Please choose a {what}.")
    if len(text) > limit:
        raise UsageError(f"That {what} is too long ({len(text)} characters; at most {limit}).")
    return text


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """What is stored about a room."""

    id: str
    name: str
    admin_hash: str

    @property
    def channel(self) -> ChannelRef:
        """The room as the router and plugins see it: one channel in a server of its own, so
        moderation rules and plugin switches set by its admin stay inside it."""
        return ChannelRef(channel_id=self.id, guild_id=GUILD_PREFIX + self.id, name=self.name)

    def is_admin_key(self, key: str | None) -> bool:
        return bool(key) and hmac.compare_digest(digest(key or ""), self.admin_hash)


class Member:
    """One open browser connection in a room; events to it wait in its own outbox."""

    __slots__ = ("author", "close_code", "closed", "in_flight", "outbox", "overflowed")

    def __init__(self, author: Author) -> None:
        self.author = author
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_SIZE)
        self.in_flight = 0
        self.closed = False
        self.overflowed = False
        self.close_code = 1000

    @property
    def admin(self) -> bool:
        return Permission.MANAGE_GUILD in self.author.permissions

    def put(self, frame: str) -> None:
        """Queue a frame; a browser too slow to keep up is disconnected instead of slowing the
        room down (its page reconnects and gets the room afresh)."""
        if self.closed:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("a browser in a room fell behind; disconnecting it")
            self.overflowed = True
            self.close(1013)

    def close(self, code: int = 1000) -> None:
        """Close after the frames already queued (all of them dropped if it overflowed)."""
        if not self.closed:
            self.closed = True
            self.close_code = code
            with contextlib.suppress(asyncio.QueueFull):
                self.outbox.put_nowait(None)


class Room:
    """A loaded room: who is connected, recent public messages, the buttons shown in it."""

    def __init__(self, info: RoomInfo, *, history: int) -> None:
        self.info = info
        self.channel = info.channel
        self.members: set[Member] = set()
        self.history: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._history_cap = history
        self._actions: OrderedDict[str, None] = OrderedDict()
        self._ids = itertools.count(1)
        self._typing = 0
        self.idle_since = time.monotonic()

    def next_id(self) -> str:
        return f"m{next(self._ids)}"

    # -- people ---------------------------------------------------------------------------
    def people(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for member in sorted(self.members, key=lambda m: m.author.name.casefold()):
            seen.setdefault(
                member.author.id,
                {"id": member.author.id, "name": member.author.name, "admin": member.admin},
            )
        return list(seen.values())

    def name_taken(self, name: str, by: str) -> bool:
        folded = name.casefold()
        if folded == BOT_NAME:
            return True
        return any(m.author.name.casefold() == folded and m.author.id != by for m in self.members)

    def add(self, member: Member) -> None:
        self.members.add(member)
        self.broadcast({"type": "people", "people": self.people()})

    def remove(self, member: Member) -> None:
        member.close()
        if member in self.members:
            self.members.discard(member)
            self.idle_since = time.monotonic()
            self.broadcast({"type": "people", "people": self.people()})

    # -- events ---------------------------------------------------------------------------
    def broadcast(self, event: dict[str, Any], *, keep: bool = False) -> None:
        """Send ``event`` to everyone in the room; ``keep`` adds a message to the history."""
        if keep and self._history_cap:
            self.history[event["id"]] = event
            while len(self.history) > self._history_cap:
                self.history.popitem(last=False)
        frame = encode(event)
        for member in list(self.members):
            member.put(frame)

    def tell(self, user: str, event: dict[str, Any]) -> None:
        """Send ``event`` only to ``user``'s connections (private notices)."""
        frame = encode(event)
        for member in list(self.members):
            if member.author.id == user:
                member.put(frame)

    def tell_admins(self, event: dict[str, Any]) -> None:
        frame = encode(event)
        for member in list(self.members):
            if member.admin:
                member.put(frame)

    def update(self, message_id: str, changes: dict[str, Any]) -> None:
        """Apply an edit to the history (late joiners see the latest text)."""
        kept = self.history.get(message_id)
        if kept is not None:
            kept.update(changes)

    def typing(self, on: bool) -> None:
        before = self._typing > 0
        self._typing = max(0, self._typing + (1 if on else -1))
        if (self._typing > 0) != before:
            self.broadcast({"type": "typing", "on": self._typing > 0, "name": BOT_NAME})

    # -- buttons --------------------------------------------------------------------------
    def offer(self, action_ids: Iterable[str]) -> None:
        """Remember buttons shown in this room: only those can be pressed."""
        for action_id in action_ids:
            self._actions[action_id] = None
            self._actions.move_to_end(action_id)
        while len(self._actions) > MAX_ACTIONS:
            self._actions.popitem(last=False)

    def offered(self, action_id: str) -> bool:
        return action_id in self._actions


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class Rooms:
    """Creates, finds and keeps the rooms of one web adapter."""

    def __init__(
        self, store: Store, moderator: Moderator, *, history: int, max_loaded: int = 1000
    ) -> None:
        self._store = store
        self._moderator = moderator
        self._history = history
        self._max_loaded = max_loaded
        self._loaded: dict[str, Room] = {}
        store.settings.register_defaults(NAMESPACE, name="", admin_hash="", created=0.0)

    async def create(self, name: str) -> tuple[str, str, Room]:
        """A new room named ``name``; returns (link token, admin key, room)."""
        token, admin_key = new_secret(), new_secret()
        info = RoomInfo(id=room_id(token), name=name, admin_hash=digest(admin_key))
        guild = info.channel.guild_id
        if name:
            await self.check_name(name, info.channel, "room name")
        settings = self._store.settings
        await settings.set(NAMESPACE, "name", name, guild_id=guild)
        await settings.set(NAMESPACE, "created", time.time(), guild_id=guild)
        await settings.set(NAMESPACE, "admin_hash", info.admin_hash, guild_id=guild)
        room = self._load(info)
        log.info("web room %s created", info.id)
        return token, admin_key, room

    async def open(self, token: str) -> Room:
        """The room behind a link token (NotFound if there is none)."""
        rid = room_id(token)
        room = self._loaded.get(rid)
        if room is not None:
            return room
        guild = GUILD_PREFIX + rid
        admin_hash = await self._store.settings.get(NAMESPACE, "admin_hash", guild_id=guild)
        if not admin_hash:
            raise NotFound("There is no room behind this link. Check the link, or start a room.")
        name = await self._store.settings.get(NAMESPACE, "name", guild_id=guild)
        return self._loaded.get(rid) or self._load(RoomInfo(rid, str(name), str(admin_hash)))

    def find(self, channel_id: str) -> Room | None:
        """A loaded room by its channel id (for the mod-log)."""
        return self._loaded.get(channel_id)

    def _load(self, info: RoomInfo) -> Room:
        if len(self._loaded) >= self._max_loaded:
            idle = sorted(
                (r for r in self._loaded.values() if not r.members), key=lambda r: r.idle_since
            )
            for room in idle[: max(1, len(idle) // 2)]:
                del self._loaded[room.info.id]
        room = self._loaded[info.id] = Room(info, history=self._history)
        return room

    async def check_name(self, name: str, channel: ChannelRef, what: str) -> None:
        """Names pass the same content filters as messages."""
        verdict = await self._moderator.check(
            name, ModerationContext.for_channel(Direction.INPUT, channel), record=False
        )
        if verdict.blocked:
            raise StateError(f"That {what} is not allowed here. Please pick another.")
