"""The platform-neutral contract between adapters, the router and plugins.

Adapters (Discord, console) turn platform events into :class:`Incoming` values and give the router
a :class:`Responder` to answer through. Plugins return or send :class:`Reply` values. Everything
here is a frozen dataclass: values cross threads and tasks safely and never change under you.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from bot.errors import UploadTooLarge


class Permission(enum.StrEnum):
    """Permissions a command may require (mapped to Discord's Manage Server / Manage Messages)."""

    MANAGE_GUILD = "manage_guild"
    MANAGE_MESSAGES = "manage_messages"

    @property
    def label(self) -> str:
        """The name Discord shows for this permission."""
        return {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}[self.value]


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote an incoming message or pressed a button."""

    id: str
    name: str
    roles: tuple[str, ...] = ()
    permissions: frozenset[Permission] = frozenset()
    is_bot: bool = False

    def has(self, permission: Permission | None) -> bool:
        """True when the author holds ``permission`` (Manage Server implies every permission)."""
        if permission is None:
            return True
        return permission in self.permissions or Permission.MANAGE_GUILD in self.permissions


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A channel (or thread) in a guild; ``guild_id`` is None for direct messages and the console."""

    channel_id: str
    guild_id: str | None = None
    name: str = ""
    nsfw: bool = False
    parent_id: str | None = None

    @property
    def key(self) -> str:
        """A stable string key that is unique across guilds (used for fairness and storage)."""
        return f"{self.guild_id or '-'}:{self.channel_id}"


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a user attached to a message or gave a command's file parameter (the incoming
    side; replies carry :class:`Attachment`).

    ``size`` is what the platform says before anything is downloaded; the bytes are fetched
    only when a plugin awaits :meth:`read` (Discord keeps them on its CDN), so a file nobody
    reads costs nothing and one over the limit is refused without downloading it.
    """

    filename: str
    size: int
    fetch: Callable[[int], Awaitable[bytes]] = field(repr=False, compare=False)
    """Adapters' download: ``fetch(limit)`` returns the bytes (at most ``limit + 1`` of them
    where the adapter can stop early). Plugins call :meth:`read` instead."""
    content_type: str = ""

    @classmethod
    def of_bytes(cls, filename: str, data: bytes, content_type: str = "") -> Upload:
        """An upload whose bytes are already here (console, tests)."""

        async def fetch(limit: int) -> bytes:
            return data[: limit + 1]

        return cls(filename=filename, size=len(data), fetch=fetch, content_type=content_type)

    @property
    def extension(self) -> str:
        """The lower-case file extension without the dot (``"json"``), or ``""``."""
        stem, dot, ext = self.filename.rpartition(".")
        return ext.lower() if dot and stem else ""

    async def read(self, max_bytes: int) -> bytes:
        """The file's bytes; raises :class:`UploadTooLarge` when the platform's size or the
        bytes actually received are over ``max_bytes`` (checked before and after fetching)."""
        if self.size > max_bytes:
            raise UploadTooLarge(self.filename, self.size, max_bytes)
        data = await self.fetch(max_bytes)
        if len(data) > max_bytes:
            raise UploadTooLarge(self.filename, len(data), max_bytes)
        return data


class IncomingKind(enum.StrEnum):
    MESSAGE = "message"
    """A plain chat message; may be a prefix command or match a trigger."""
    COMMAND = "command"
    """A structured command (Discord slash command): ``command`` and ``options`` are set."""
    ACTION = "action"
    """A button press: ``action_id`` is set."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One event from a chat platform, already stripped of platform types."""

    channel: ChannelRef
    author: Author
    text: str = ""
    kind: IncomingKind = IncomingKind.MESSAGE
    message_id: str = ""
    command: str | None = None
    """For COMMAND: the full command path, words separated by spaces (e.g. ``"story add"``)."""
    options: Mapping[str, object] = field(default_factory=dict)
    """For COMMAND: already-typed option values keyed by parameter name."""
    action_id: str | None = None
    """For ACTION: the button's custom id (``plugin:action:arg``)."""
    reply_to: str | None = None
    """The id of the message this one replies to, if any."""
    created_at: datetime = field(default_factory=utcnow)
    attachments: tuple[Upload, ...] = ()
    """Files attached to the message (a command's file parameters get them in order)."""


class ButtonStyle(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Button:
    """A clickable action under a reply. ``action_id`` comes back as ``Incoming.action_id``."""

    action_id: str
    label: str
    style: ButtonStyle = ButtonStyle.SECONDARY
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a reply (story exports)."""

    filename: str
    data: bytes
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to post.

    ``ephemeral`` replies are private to the author where the platform allows (Discord
    interactions); elsewhere they are posted as notices.
    """

    text: str = ""
    ephemeral: bool = False
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A handle on a posted message, used to edit it (streaming) or to refer to it."""

    id: str
    channel_id: str


@runtime_checkable
class Responder(Protocol):
    """How the router answers one incoming event. Adapters implement this.

    Every post goes through ``send``; on Discord it applies ``AllowedMentions.none()``.
    The router moderates every text before it calls these methods.
    """

    async def send(self, reply: Reply) -> SentMessage:
        """Post a new message (or an ephemeral notice when ``reply.ephemeral``)."""
        ...

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        """Replace the content of a message this responder sent (streaming updates)."""
        ...

    def typing(self) -> AbstractAsyncContextManager[None]:
        """Show a typing indicator while the block runs."""
        ...


@runtime_checkable
class ThreadOpener(Protocol):
    """A responder that can open a public thread for what follows (Discord). Adapters without
    threads simply do not implement it."""

    async def open_thread(self, name: str) -> tuple[ChannelRef, Responder] | str:
        """Open a public thread named ``name`` from the event's message or channel.

        Returns the thread and a responder that posts in it, or a sentence saying why no thread
        can be opened here (a direct message, already a thread) for the caller to go on in
        place. Raises :class:`~bot.errors.UserFacingError` when a thread could be opened but the
        bot may not (a missing permission: the message says which and where to grant it).
        """
        ...
