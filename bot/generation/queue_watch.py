"""Queue positions of waiting requests, reported to whoever is waiting for them.

``with watch_queue(on_change):`` makes every generation request submitted inside the block (in
tasks started inside it too: the watch travels in a context variable) report its place in the
generation service's queue. ``on_change(position)`` is called on the event loop whenever the
best place among those requests changes: ``N >= 1`` while they all wait (1: next to be served),
``0`` once one of them is being written (and nothing after that: the watcher's text is being
written; the rest of its requests follow without more noise). The queue works positions out in the order it will
really serve the requests (priority, then channels in turn), so a request can move back when a
higher-priority one arrives, and moves up as others are served or give up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar, Token

PositionCallback = Callable[[int], None]

_current: ContextVar[QueueWatch | None] = ContextVar("storyloom_queue_watch", default=None)


class QueueWatch:
    """The best queue position among the requests submitted under one watch."""

    __slots__ = ("_ended", "_on_change", "_places", "position")

    def __init__(self, on_change: PositionCallback) -> None:
        self._on_change = on_change
        self._places: dict[str, int] = {}
        self._ended: set[str] = set()  # a late report of an ended job must not revive it
        self.position: int | None = None
        """The last position reported (None: no request seen yet)."""

    def report(self, job_id: str, position: int | None) -> None:
        """Job ``job_id`` is at ``position`` (0: being written; None: ended). Event loop only."""
        if position is None:
            self._places.pop(job_id, None)
            self._ended.add(job_id)
        elif job_id in self._ended:
            return
        else:
            self._places[job_id] = position
        if not self._places or self.position == 0:
            return
        best = min(self._places.values())
        if best != self.position:
            self.position = best
            self._on_change(best)


@contextlib.contextmanager
def watch_queue(on_change: PositionCallback) -> Iterator[QueueWatch]:
    """Report queue positions of the requests submitted inside the block to ``on_change``."""
    watch = QueueWatch(on_change)
    token = _current.set(watch)
    try:
        yield watch
    finally:
        _current.reset(token)


def current_watch() -> QueueWatch | None:
    """The watch of the calling context, if any (the service reads it at submission)."""
    return _current.get()


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def describe_position(position: int) -> str:
    """The placeholder text for a waiting request (``position >= 1``) or one being written."""
    if position <= 0:
        return "✍️ Writing…"
    if position == 1:
        return "⏳ You're next in line — I'll start writing in a moment."
    return f"⏳ You're {ordinal(position)} in line — I'll start writing as soon as it's your turn."


class QueueNotice:
    """Tells people their place in line while requests made inside ``async with`` wait.

    ``show(text)`` is called first after ``grace_s`` of waiting (short waits show nothing),
    then at most every ``interval_s`` as the queue moves (only the latest place), and a last
    time with "Writing…" when the turn comes. The caller decides what showing means (post a
    placeholder message, then edit it). Leaving the block stops the updates.
    """

    def __init__(
        self,
        show: Callable[[str], Awaitable[object]],
        *,
        grace_s: float = 1.0,
        interval_s: float = 1.0,
    ) -> None:
        self._show = show
        self._grace_s = grace_s
        self._interval_s = interval_s
        self._position: int | None = None
        self._changed = asyncio.Event()
        self._token: Token[QueueWatch | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> QueueNotice:
        self._token = _current.set(QueueWatch(self._on_change))
        self._task = asyncio.create_task(self._run(), name="queue-notice")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_change(self, position: int) -> None:
        self._position = position
        self._changed.set()

    async def _run(self) -> None:
        shown: str | None = None
        while True:
            await self._changed.wait()
            self._changed.clear()
            if shown is None:
                if self._position == 0:
                    return  # served at once: nothing to tell
                await asyncio.sleep(self._grace_s)
                if self._position == 0:
                    return
            assert self._position is not None
            text = describe_position(self._position)
            if text != shown:
                await self._show(text)
                shown = text
            if self._position == 0:
                return
            await asyncio.sleep(self._interval_s)  # coalesce moves: only the latest is shown
