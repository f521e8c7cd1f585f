"""Responders: how the router answers on Discord (a channel message, or an interaction).

Both post every message through :func:`~.outbound.deliver` (``AllowedMentions.none()``), split
texts over 2,000 characters into several messages (an edit grows, shrinks or rewrites the parts
as needed), put buttons on the last part, and throttle edits per message with
:class:`~.throttle.EditThrottle` as a safety net under the router's streaming interval.

Both open public threads (:class:`~bot.types.ThreadOpener`, ``/story start thread=yes``): a prefix
command's thread grows from the command's message, a slash command's from the channel. The bot
needs Create Public Threads and Send Messages in Threads there; without them the command is
refused with a message that says what to grant. What follows is posted by a
:class:`ThreadResponder` in the new thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.adapters.discord.convert import channel_ref
from bot.adapters.discord.outbound import deliver
from bot.adapters.discord.split import split_message
from bot.adapters.discord.throttle import EditThrottle
from bot.errors import UserFacingError
from bot.types import Attachment, Button, ChannelRef, Reply, Responder, SentMessage

log = logging.getLogger(__name__)

DONE = "Done."
EMPTY = "…"
THREAD_PERMISSIONS = (
    ("create_public_threads", "Create Public Threads"),
    ("send_messages_in_threads", "Send Messages in Threads"),
)
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080
"""A story thread is hidden after a week without messages (it reopens when someone writes)."""
IN_A_THREAD = "This is a thread already, so the story starts right here."
NO_THREADS_HERE = "Threads can't be opened in this kind of channel, so the story starts right here."


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
        self._edit_interval_s = edit_interval_s
        self._throttle: EditThrottle[Reply] = EditThrottle(edit_interval_s, self._apply_edit)
        self._threads: list[ThreadResponder] = []
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
        """Wait until coalesced edits have been sent (in the threads it opened too)."""
        await self._throttle.flush()
        for thread in self._threads:
            await thread.flush()

    # -- threads --------------------------------------------------------------------------
    async def open_thread(self, name: str) -> tuple[ChannelRef, Responder] | str:
        """A new public thread named ``name`` and a responder in it (see the module doc); a
        sentence instead where no thread can be opened (a thread, a DM, a forum or voice chat).
        """
        channel = self._channel
        if isinstance(channel, discord.Thread):
            return IN_A_THREAD
        if not isinstance(channel, discord.TextChannel):
            return NO_THREADS_HERE
        granted = self._bot_permissions()
        if granted is not None:
            missing = [label for attr, label in THREAD_PERMISSIONS if not getattr(granted, attr)]
            if missing:
                raise UserFacingError(_needs(missing, channel))
        try:
            thread = await self._create_thread(channel, name[:100] or "story")
        except discord.Forbidden as exc:
            raise UserFacingError(
                _needs([label for _, label in THREAD_PERMISSIONS], channel)
            ) from exc
        except discord.HTTPException as exc:
            raise UserFacingError(
                f"Discord would not open the thread ({exc.status}: {exc.text[:100]}). Nothing "
                "was started; try again, or start the story here without `thread`."
            ) from exc
        log.info("opened thread %s in channel %s", thread.id, channel.id)
        responder = ThreadResponder(thread, self, edit_interval_s=self._edit_interval_s)
        self._threads.append(responder)
        return channel_ref(thread), responder

    def _bot_permissions(self) -> discord.Permissions | None:
        """The bot's permissions in the channel, where they are known."""
        channel = self._channel
        me = getattr(getattr(channel, "guild", None), "me", None)
        return channel.permissions_for(me) if me is not None else None

    async def _create_thread(self, channel: discord.TextChannel, name: str) -> discord.Thread:
        kind = discord.ChannelType.news_thread if channel.is_news() else None
        return await channel.create_thread(
            name=name,
            type=kind or discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
        )

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


def _needs(labels: list[str], channel: discord.TextChannel) -> str:
    what = " and ".join(f"**{label}**" for label in labels)
    plural = "s" if len(labels) > 1 else ""
    return (
        f"I can't open a thread in #{channel.name}: I need the {what} permission{plural} "
        "there. A server admin can grant it (Server Settings → Roles → my role, or the "
        "channel's Edit Channel → Permissions). Nothing was started; you can also start the "
        "story here without `thread`."
    )


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

    async def _create_thread(self, channel: discord.TextChannel, name: str) -> discord.Thread:
        """The thread grows from the command's message (it shows under it in the channel)."""
        return await self._source.create_thread(
            name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
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

    def _bot_permissions(self) -> discord.Permissions | None:
        return self._interaction.app_permissions

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


class ThreadResponder(_PostingResponder):
    """Posts in a thread that another responder opened. Private notices still go to the person
    who asked, through the responder that opened the thread (a slash command's are private)."""

    def __init__(
        self, thread: discord.Thread, origin: _PostingResponder, *, edit_interval_s: float
    ) -> None:
        super().__init__(thread, edit_interval_s=edit_interval_s)
        self._origin = origin

    async def _post(
        self,
        text: str,
        *,
        buttons: Sequence[Button],
        attachments: Sequence[Attachment],
        ephemeral: bool,
        first: bool,
    ) -> Any:
        if ephemeral:
            return await self._origin._post(
                text, buttons=buttons, attachments=attachments, ephemeral=True, first=first
            )
        return await deliver(
            self._channel.send, content=text, buttons=buttons, attachments=attachments
        )
