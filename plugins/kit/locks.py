"""One asyncio lock per key (a channel, a story) that lives only while someone uses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Tasks holding or waiting for the lock; the entry is dropped when it reaches 0."""


class KeyedLocks:
    """Per-key mutual exclusion whose memory follows the keys in use, not every key ever seen.

    >>> locks = KeyedLocks()
    >>> async def turn(channel_key: str) -> None:
    ...     async with locks.hold(channel_key):
    ...         ...  # read, change and save this channel's story
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the ``async with`` block (waiting while another task has it)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def locked(self, key: str) -> bool:
        """Whether a task holds ``key``'s lock now."""
        entry = self._entries.get(key)
        return entry is not None and entry.lock.locked()

    def __len__(self) -> int:
        """How many keys are held or waited for."""
        return len(self._entries)
