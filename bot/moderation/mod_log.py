"""The mod-log: a one-line summary of every block and flag, posted to a moderators' channel.

:class:`ModLogSink` wraps the audit sink. Each event is recorded first; then, in the background
(a verdict never waits on the chat platform), :func:`~bot.moderation.audit.format_mod_log` of it
is posted to the guild's ``mod_log_channel_id`` or, failing that, the bot-wide fallback channel.
A running adapter attaches its poster (:meth:`ModLogSink.attach`); without one nothing is posted.
Posting failures are logged and dropped. The checked text itself is never posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.moderation.audit import AuditSink, format_mod_log
from bot.moderation.pipeline import RulesProvider
from bot.moderation.types import AuditEvent

log = logging.getLogger(__name__)

ModLogPoster = Callable[[str, str], Awaitable[None]]
"""``await poster(channel_id, text)`` posts ``text`` to a channel without pinging anyone."""


class ModLogSink:
    """An :class:`AuditSink` that records to ``inner`` and then posts a mod-log summary."""

    def __init__(
        self,
        inner: AuditSink,
        rules: RulesProvider,
        *,
        fallback_channel_id: str | None = None,
        max_pending: int = 100,
        post_timeout_s: float = 15.0,
    ) -> None:
        self._posters: list[ModLogPoster] = []
        self._inner = inner
        self._rules = rules
        self._fallback = fallback_channel_id
        self._max_pending = max_pending
        self._timeout = post_timeout_s
        self._pending: set[asyncio.Task[None]] = set()
        self.dropped = 0
        """Summaries not posted because too many were already waiting."""

    @property
    def poster(self) -> ModLogPoster | None:
        """The poster summaries go to: the one attached last and not yet detached."""
        return self._posters[-1] if self._posters else None

    def attach(self, poster: ModLogPoster) -> Callable[[], None]:
        """Post summaries with ``poster`` from now on; call the returned function to stop
        (the poster attached before it, if any, takes over again)."""
        self._posters.append(poster)

        def detach() -> None:
            if poster in self._posters:
                self._posters.remove(poster)

        return detach

    async def record(self, event: AuditEvent) -> None:
        try:
            await self._inner.record(event)
        finally:  # the mod-log gets the summary even when the audit table is down
            self._schedule(event)

    async def channel_for(self, guild_id: str | None) -> str | None:
        """Where summaries of ``guild_id``'s events go (None: nowhere)."""
        rules = await self._rules.rules_for(guild_id)
        return rules.mod_log_channel_id or self._fallback

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for summaries still being posted; cancel what is left after ``timeout_s``."""
        pending = set(self._pending)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)

    def _schedule(self, event: AuditEvent) -> None:
        poster = self.poster
        if poster is None:
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.warning("mod-log backlog full; a summary (rule %s) was not posted", event.rule)
            return
        task = asyncio.get_running_loop().create_task(self._post(poster, event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, poster: ModLogPoster, event: AuditEvent) -> None:
        channel: str | None = None
        try:
            channel = await self.channel_for(event.guild_id)
            if channel is None:
                return
            await asyncio.wait_for(poster(channel, format_mod_log(event)), self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never raised into moderation; the audit row is kept
            log.warning(
                "could not post to mod-log channel %s: %s: %s", channel, type(exc).__name__, exc
            )
