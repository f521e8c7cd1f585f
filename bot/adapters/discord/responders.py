"""Responders: how the router answers on Discord (a channel message, or an interaction).

Both post every message through :func:`~.outbound.deliver` (``AllowedMentions.none()``), split
texts over 2,000 characters into several messages (an edit grows, shrinks or rewrites the parts
as needed), put buttons on the last part, and throttle edits per message with
:class:`~.throttle.EditThrottle` as a safety net under the router's streaming interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import discord

from bot.adapters.discord.outbound import deliver
from bot.adapters.discord.split import split_message
from bot.adapters.discord.throttle import EditThrottle
from bot.types import Attachment, Button, Reply, SentMessage

log = logging.getLogger(__name__)

DONE = "Done."
EMPTY = "…"


@dataclass(slots=True)
class _Part:
    message: Any
    """discord.Message, InteractionMessage or WebhookMessage: each has ``id``, ``edit``, ``delete``."""
    content: str
    buttons: tuple[Button, ...]


class _PostingResponder:
    """What both responders share: splitting, part bookkeeping, throttled edits, typing."""

    def __init__(self, channel: Any, *, edit_interval_s: float) -> None:
        self._channel = channel
        self._posts: dict[str, list[_Part]] = {}
        self._throttle: EditThrottle[Reply] = EditThrottle(edit_interval_s, self._apply_edit)
        self.posted = 0
        """How many messages this responder has posted (parts counted separately)."""

    async def _post(
        self,
        text: str,
        *,
        buttons: Sequence[Button],
        attachments: Sequence[Attachment],
        ephemeral: bool,
        first: bool,
    ) -> Any:
        raise NotImplementedError

    def _channel_id(self) -> str:
        return str(getattr(self._channel, "id", "") or "")

    async def send(self, reply: Reply) -> SentMessage:
        texts = (
            split_message(reply.text)
            if reply.text.strip()
            else [EMPTY if not reply.attachments else ""]
        )
        parts: list[_Part] = []
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            buttons = reply.buttons if last else ()
            message = await self._post(
                text,
                buttons=buttons,
                attachments=reply.attachments if last else (),
                ephemeral=reply.ephemeral,
                first=index == 0,
            )
            self.posted += 1
            parts.append(_Part(message, text, tuple(buttons)))
        key = str(parts[0].message.id)
        self._posts[key] = parts
        self._throttle.touched(key)
        return SentMessage(id=key, channel_id=self._channel_id())

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        await self._throttle.edit(message.id, reply)

    async def flush(self) -> None:
        """Wait until coalesced edits have been sent."""
        await self._throttle.flush()

    async def _apply_edit(self, key: str, reply: Reply) -> None:
        parts = self._posts.get(key)
        if parts is None:
            log.warning("asked to edit message %s, which this responder did not send", key)
            return
        texts = split_message(reply.text) if reply.text.strip() else [p.content for p in parts]
        for index, text in enumerate(texts):
            buttons = tuple(reply.buttons) if index == len(texts) - 1 else ()
            if index < len(parts):
                part = parts[index]
                if part.content == text and part.buttons == buttons:
                    continue
                try:
                    edited = await deliver(
                        part.message.edit, content=text, buttons=buttons, edit=True
                    )
                except discord.NotFound:
                    log.info("message %s was deleted while it was being updated", part.message.id)
                    return
                parts[index] = _Part(edited if edited is not None else part.message, text, buttons)
            else:
                message = await self._post(
                    text, buttons=buttons, attachments=(), ephemeral=False, first=False
                )
                self.posted += 1
                parts.append(_Part(message, text, buttons))
        for extra in parts[len(texts) :]:
            try:
                await extra.message.delete()
            except discord.HTTPException as exc:
                log.warning("could not delete a surplus message part: %s", exc)
        del parts[len(texts) :]

    @asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        """Keep Discord's typing indicator alive (discord.py renews it) while the block runs."""
        async with AsyncExitStack() as stack:
            channel = self._channel
            if channel is not None and hasattr(channel, "typing"):
                try:
                    await stack.enter_async_context(channel.typing())
                except (discord.HTTPException, discord.ClientException) as exc:
                    log.debug("no typing indicator in %s: %s", self._channel_id(), exc)
            yield


class ChannelResponder(_PostingResponder):
    """Answers a chat message in its channel.

    Ephemeral notices cannot be private here: they become a short reply to the author's message
    (mentions disabled, so nobody is pinged). The first answer to a prefix command is a reply too.
    """

    def __init__(
        self, message: discord.Message, *, edit_interval_s: float, reply_first: bool = False
    ) -> None:
        super().__init__(message.channel, edit_interval_s=edit_interval_s)
        self._source = message
        self._reply_first = reply_first

    async def _post(
        self,
        text: str,
        *,
        buttons: Sequence[Button],
        attachments: Sequence[Attachment],
        ephemeral: bool,
        first: bool,
    ) -> Any:
        reference = None
        if first and (ephemeral or self._reply_first):
            reference = self._source.to_reference(fail_if_not_exists=False)
            self._reply_first = False
        return await deliver(
            self._channel.send,
            content=text,
            buttons=buttons,
            attachments=attachments,
            reference=reference,
        )


class InteractionResponder(_PostingResponder):
    """Answers a slash command or a button press.

    :meth:`acknowledge` defers at once (Discord's 3-second limit): for a slash command Discord shows
    "thinking…" until the first public answer replaces it; for a button the press is acknowledged
    silently and answers come as followups. Ephemeral replies are private to the user. If the
    interaction expired before it was acknowledged, answers go to the channel instead.
    """

    def __init__(self, interaction: discord.Interaction, *, edit_interval_s: float) -> None:
        super().__init__(interaction.channel, edit_interval_s=edit_interval_s)
        self._interaction = interaction
        self._placeholder = False
        self._expired = False
        self._first = asyncio.Lock()  # the first response: a defer or an answer, never both
        self._safety_net: asyncio.Task[None] | None = None

    @property
    def acknowledged(self) -> bool:
        return self._interaction.response.is_done()

    async def acknowledge(self) -> None:
        """Defer the interaction (idempotent)."""
        async with self._first:
            response = self._interaction.response
            if response.is_done() or self._expired:
                return
            try:
                await response.defer()
            except discord.NotFound:
                log.warning(
                    "interaction %s expired before it was acknowledged", self._interaction.id
                )
                self._expired = True
                return
            self._placeholder = (
                self._interaction.type is discord.InteractionType.application_command
            )

    def acknowledge_later(self, delay_s: float) -> None:
        """Defer if nothing was sent within ``delay_s`` (a safety net for "instant" commands)."""

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.acknowledge()

        self._safety_net = asyncio.create_task(later())

    async def _post(
        self,
        text: str,
        *,
        buttons: Sequence[Button],
        attachments: Sequence[Attachment],
        ephemeral: bool,
        first: bool,
    ) -> Any:
        interaction = self._interaction
        if self._expired:
            return await deliver(
                self._channel.send, content=text, buttons=buttons, attachments=attachments
            )
        response = interaction.response
        if not response.is_done():
            async with self._first:
                if not response.is_done():
                    callback = await deliver(
                        response.send_message,
                        content=text,
                        buttons=buttons,
                        attachments=attachments,
                        ephemeral=ephemeral,
                    )
                    resource = getattr(callback, "resource", None)
                    if isinstance(resource, discord.InteractionMessage):
                        return resource
                    return await interaction.original_response()
        if self._placeholder:
            self._placeholder = False
            if not ephemeral:
                return await deliver(
                    interaction.edit_original_response,
                    content=text,
                    buttons=buttons,
                    attachments=attachments,
                    files_argument="attachments",
                    edit=True,
                )
            # The first followup would inherit the public placeholder's visibility; remove the
            # placeholder so that the notice really is private.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as exc:
                log.debug("could not remove the thinking placeholder: %s", exc)
        return await deliver(
            interaction.followup.send,
            content=text,
            buttons=buttons,
            attachments=attachments,
            ephemeral=ephemeral,
            wait=True,
        )

    async def finish(self) -> None:
        """After routing: send coalesced edits, and close a placeholder nobody answered."""
        if self._safety_net is not None:
            self._safety_net.cancel()
        await self.flush()
        if self._expired:
            return
        try:
            if self._placeholder:
                self._placeholder = False
                await deliver(self._interaction.edit_original_response, content=DONE, edit=True)
            elif not self._interaction.response.is_done():
                await deliver(self._interaction.response.send_message, content=DONE, ephemeral=True)
        except discord.HTTPException as exc:
            log.debug("could not close interaction %s: %s", self._interaction.id, exc)
