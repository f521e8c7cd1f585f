"""The one way storyloom posts to Discord.

Every message the bot sends or edits — channel messages, interaction responses, followups,
edits while streaming — goes through :func:`deliver`, which applies
``discord.AllowedMentions.none()`` (nobody is pinged by generated or quoted text) and refuses
content over Discord's limit (callers split first with :func:`~.split.split_message`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import discord

from bot.adapters.discord.buttons import build_view
from bot.adapters.discord.split import DISCORD_LIMIT
from bot.types import Attachment, Button

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
"""Applied to every post: no @everyone, no user or role pings, no reply ping."""

T = TypeVar("T")


async def deliver(
    operation: Callable[..., Awaitable[T]],
    *,
    content: str | None,
    buttons: Sequence[Button] | None = None,
    attachments: Sequence[Attachment] = (),
    edit: bool = False,
    files_argument: str = "files",
    **options: Any,
) -> T:
    """Call a discord.py send/edit ``operation`` with mention-safe arguments.

    ``operation`` is one of ``Messageable.send``, ``Message.edit``,
    ``InteractionResponse.send_message``, ``Webhook.send`` (followups),
    ``Interaction.edit_original_response`` or ``InteractionMessage/WebhookMessage.edit``.
    With ``edit=True``, ``buttons=None`` leaves the message's buttons alone and ``()`` removes
    them. ``files_argument`` names the keyword that takes files (``attachments`` for
    ``edit_original_response``). Extra ``options`` (``reference``, ``ephemeral``, ``wait``) pass
    through.
    """
    if content is not None and len(content) > DISCORD_LIMIT:
        raise ValueError(f"message content is {len(content)} characters; split it first")
    kwargs: dict[str, Any] = dict(options)
    kwargs["allowed_mentions"] = NO_MENTIONS
    if content is not None:
        kwargs["content"] = content
    if buttons:
        kwargs["view"] = build_view(buttons)
    elif edit and buttons is not None:
        kwargs["view"] = None
    if attachments:
        kwargs[files_argument] = [to_file(a) for a in attachments]
    return await operation(**kwargs)


def to_file(attachment: Attachment) -> discord.File:
    """A :class:`discord.File` for a reply attachment (story exports)."""
    return discord.File(io.BytesIO(attachment.data), filename=attachment.filename)
