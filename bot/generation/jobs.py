"""A request inside the service: its prepared prompt, its event channel and its cancel flag."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.generation.types import GenerationRequest, GenerationResult, StreamChunk

Event = StreamChunk | GenerationResult | BaseException
"""What a backend delivers to a job: text chunks, then one result or one error."""

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    """A prompt rendered for the backend: token ids (local) or text/messages (remote)."""

    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    max_new_tokens: int
    messages: tuple[tuple[str, str], ...] | None = None


class Job:
    """One admitted request. Backends read it from any thread and deliver events with ``post``."""

    __slots__ = (
        "cancelled",
        "channel_key",
        "deadline",
        "events",
        "finished",
        "id",
        "loop",
        "on_position",
        "position",
        "prompt",
        "request",
        "started_at",
        "submitted_at",
        "wants_chunks",
    )

    def __init__(
        self,
        request: GenerationRequest,
        prompt: PreparedPrompt,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_s: float | None,
        wants_chunks: bool = True,
    ) -> None:
        self.id = f"gen-{next(_ids)}"
        self.request = request
        self.prompt = prompt
        self.loop = loop
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.finished = False
        self.wants_chunks = wants_chunks
        self.channel_key = request.channel_key
        self.submitted_at = time.monotonic()
        self.on_position: Callable[[int], None] | None = None
        """Told (on the job's loop) its queue position when it changes; 0 once taken."""
        self.position: int | None = None
        self.started_at: float | None = None
        """When a backend took the job from the queue (None while it waits)."""
        self.deadline = None if timeout_s is None else self.submitted_at + timeout_s

    @property
    def priority(self) -> int:
        return self.request.priority

    def expired(self, now: float | None = None) -> bool:
        """True when the job's deadline has passed."""
        return self.deadline is not None and (now or time.monotonic()) > self.deadline

    def cancel(self) -> None:
        """Ask the backend to drop this job at its next step (thread-safe)."""
        self.cancelled.set()

    def is_dead(self) -> bool:
        """True when nobody waits for this job's output any more (cancelled or past deadline)."""
        return self.cancelled.is_set() or self.expired()


def post(items: list[tuple[Job, Event]]) -> None:
    """Deliver events to their jobs' event loops (callable from any thread)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Event]]] = {}
    for job, event in items:
        by_loop.setdefault(job.loop, []).append((job, event))
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
            loop.call_soon_threadsafe(_put_all, batch)


def _put_all(batch: list[tuple[Job, Event]]) -> None:
    for job, event in batch:
        job.events.put_nowait(event)
