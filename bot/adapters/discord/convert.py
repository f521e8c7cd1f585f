"""discord.py objects -> platform-neutral :mod:`bot.types` values."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import discord

from bot.errors import UserFacingError
from bot.types import Author, ChannelRef, Incoming, IncomingKind, Permission, Upload

DOWNLOAD_TIMEOUT_S = 30.0

_PERMISSIONS = (
    ("manage_guild", Permission.MANAGE_GUILD),
    ("manage_messages", Permission.MANAGE_MESSAGES),
)


def channel_ref(channel: object) -> ChannelRef:
    """The :class:`ChannelRef` of a channel or thread; threads inherit their parent's NSFW flag."""
    channel_id = str(getattr(channel, "id", "") or "")
    guild = getattr(channel, "guild", None)
    guild_id = str(guild.id) if guild is not None else None
    if guild_id is None and getattr(channel, "guild_id", None):
        guild_id = str(channel.guild_id)  # type: ignore[attr-defined]
    name = str(getattr(channel, "name", "") or "")
    parent_id: str | None = None
    nsfw = False
    if isinstance(channel, discord.Thread):
        parent_id = str(channel.parent_id)
        parent = channel.parent
        if parent is None and guild is not None:
            parent = guild.get_channel(channel.parent_id)
        nsfw = bool(parent is not None and _is_nsfw(parent))
    else:
        nsfw = _is_nsfw(channel)
    return ChannelRef(
        channel_id=channel_id, guild_id=guild_id, name=name, nsfw=nsfw, parent_id=parent_id
    )


def _is_nsfw(channel: object) -> bool:
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def permissions_of(resolved: discord.Permissions) -> frozenset[Permission]:
    """storyloom permissions held in a resolved Discord permission set (administrators hold all)."""
    if resolved.administrator:
        return frozenset(Permission)
    return frozenset(p for attr, p in _PERMISSIONS if getattr(resolved, attr))


def author_of(user: discord.abc.User, resolved: discord.Permissions | None) -> Author:
    """The :class:`Author` for a user; ``resolved`` are their permissions in the channel."""
    roles: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        roles = tuple(str(r.id) for r in user.roles if not r.is_default())
    return Author(
        id=str(user.id),
        name=user.display_name,
        roles=roles,
        permissions=permissions_of(resolved) if resolved is not None else frozenset(),
        is_bot=user.bot,
    )


def upload_of(attachment: discord.Attachment) -> Upload:
    """An :class:`Upload` for a message or slash-command attachment. Discord states its size;
    the bytes are downloaded from its CDN only when a plugin reads them (within its limit)."""
    name = attachment.filename

    async def fetch(limit: int) -> bytes:
        try:
            async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
                return await attachment.read()
        except discord.NotFound as exc:
            raise UserFacingError(
                f"`{name}` is gone from Discord (deleted?). Attach it again and retry."
            ) from exc
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise UserFacingError(
                f"I couldn't download `{name}` from Discord ({type(exc).__name__}). "
                "Try again in a moment."
            ) from exc

    return Upload(
        filename=name,
        size=attachment.size,
        fetch=fetch,
        content_type=attachment.content_type or "",
    )


def incoming_from_message(
    message: discord.Message, *, text: str, kind: IncomingKind = IncomingKind.MESSAGE
) -> Incoming:
    """An :class:`Incoming` for a chat message (``text`` is the content, prefix already removed)."""
    resolved: discord.Permissions | None = None
    if isinstance(message.author, discord.Member):
        resolved = message.channel.permissions_for(message.author)
    reply_to = None
    if message.reference is not None and message.reference.message_id is not None:
        reply_to = str(message.reference.message_id)
    return Incoming(
        channel=channel_ref(message.channel),
        author=author_of(message.author, resolved),
        text=text,
        kind=kind,
        message_id=str(message.id),
        reply_to=reply_to,
        created_at=message.created_at,
        attachments=tuple(upload_of(a) for a in message.attachments),
    )


def incoming_from_interaction(
    interaction: discord.Interaction,
    *,
    kind: IncomingKind,
    command: str | None = None,
    options: Mapping[str, object] | None = None,
    action_id: str | None = None,
) -> Incoming:
    """An :class:`Incoming` for a slash command (``command``, ``options``; attachment options
    become :class:`~bot.types.Upload`) or a button press."""
    resolved = interaction.permissions if interaction.guild_id is not None else None
    message = interaction.message
    return Incoming(
        channel=channel_ref(interaction.channel)
        if interaction.channel is not None
        else ChannelRef(
            channel_id="", guild_id=str(interaction.guild_id) if interaction.guild_id else None
        ),
        author=author_of(interaction.user, resolved),
        kind=kind,
        message_id=str(interaction.id),
        command=command,
        options={
            k: upload_of(v) if isinstance(v, discord.Attachment) else v
            for k, v in (options or {}).items()
        },
        action_id=action_id,
        reply_to=str(message.id) if message is not None else None,
        created_at=interaction.created_at,
    )
