"""A per-message edit throttle: the safety net under the router's streaming interval.

Discord rate-limits message edits. :class:`EditThrottle` lets at most one edit per message through
every ``interval_s``; edits arriving sooner are coalesced (only the latest is kept) and sent as
soon as the interval allows. :meth:`EditThrottle.flush` waits until the last one is out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

V = TypeVar("V")


class EditThrottle(Generic[V]):
    """Coalescing, interval-enforcing edits keyed by message id."""

    def __init__(
        self,
        interval_s: float,
        apply: Callable[[str, V], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = max(0.0, interval_s)
        self._apply = apply
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, V] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def touched(self, key: str) -> None:
        """Record that message ``key`` was just written (sent), so the next edit waits."""
        self._last[key] = self._clock()

    async def edit(self, key: str, value: V) -> None:
        """Apply ``value`` to message ``key`` now if the interval allows, else later (coalesced)."""
        if key in self._timers:
            self._pending[key] = value
            return
        wait = self._last.get(key, float("-inf")) + self.interval_s - self._clock()
        if wait > 0:
            self._pending[key] = value
            self._timers[key] = asyncio.create_task(self._later(key, wait))
            return
        await self._run(key, value)

    async def _run(self, key: str, value: V) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            self._last[key] = self._clock()
            await self._apply(key, value)

    async def _later(self, key: str, wait: float) -> None:
        cancelled = False
        try:
            await asyncio.sleep(wait)
            value = self._pending.pop(key)
            await self._run(key, value)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception:
            log.exception("a delayed message edit failed")
        finally:
            self._timers.pop(key, None)
            if key in self._pending and not cancelled:
                # An edit arrived while this one was being sent; schedule it in turn.
                remaining = self._last.get(key, 0.0) + self.interval_s - self._clock()
                self._timers[key] = asyncio.create_task(self._later(key, max(0.0, remaining)))

    @property
    def pending(self) -> int:
        """Edits waiting for their interval."""
        return len(self._timers)

    async def flush(self) -> None:
        """Wait until every coalesced edit has been sent."""
        while self._timers:
            await asyncio.gather(*list(self._timers.values()), return_exceptions=True)
