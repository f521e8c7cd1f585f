"""The admission queue: bounded, fair across channels, priority first, thread-safe."""

from __future__ import annotations

import bisect
import threading
from collections import Counter, deque
from collections.abc import Callable

from bot.errors import GenerationCancelled, GenerationTimeout, Overloaded
from bot.generation.jobs import Event, Job, post


class FairQueue:
    """Jobs wait here until a backend takes them.

    ``put`` raises :class:`Overloaded` when ``capacity`` jobs already wait. ``take`` serves the
    highest priority first and, within a priority, channels in round-robin order; a channel never
    has more than ``per_channel_limit`` jobs taken and not yet released.
    """

    def __init__(
        self,
        capacity: int,
        per_channel_limit: int,
        *,
        estimate_wait: Callable[[int], float | None] = lambda position: None,
    ) -> None:
        self._capacity = capacity
        self._per_channel_limit = per_channel_limit
        self._estimate_wait = estimate_wait
        self._cond = threading.Condition()
        self._waiting: dict[str, list[tuple[int, int, Job]]] = {}
        self._order: deque[str] = deque()
        self._running: Counter[str] = Counter()
        self._seq = 0
        self._depth = 0
        self._closed = False
        self._listeners: list[Callable[[], object]] = []

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet taken)."""
        return self._depth

    @property
    def running(self) -> int:
        """Jobs taken and not yet released."""
        with self._cond:
            return sum(self._running.values())

    def add_listener(self, listener: Callable[[], object]) -> None:
        """Call ``listener`` (from any thread) whenever jobs arrive or capacity frees up."""
        self._listeners.append(listener)

    def put(self, job: Job) -> None:
        """Queue ``job`` or raise :class:`Overloaded` with the position it would have had."""
        with self._cond:
            if self._closed:
                raise GenerationCancelled("the generation service is shutting down")
            if self._depth >= self._capacity:
                position = self._depth + 1
                raise Overloaded(position=position, estimated_wait_s=self._estimate_wait(position))
            self._seq += 1
            lane = self._waiting.get(job.channel_key)
            if lane is None:
                lane = self._waiting[job.channel_key] = []
                self._order.append(job.channel_key)
            bisect.insort(lane, (-job.priority, self._seq, job), key=lambda e: (e[0], e[1]))
            self._depth += 1
            self._cond.notify_all()
        self._notify()

    def take(self, limit: int) -> list[Job]:
        """Take up to ``limit`` jobs fairly, without waiting; dead jobs are dropped on the way."""
        taken: list[Job] = []
        dropped: list[Job] = []
        with self._cond:
            while len(taken) < limit:
                channel = self._pick_channel()
                if channel is None:
                    break
                lane = self._waiting[channel]
                _, _, job = lane.pop(0)
                self._depth -= 1
                self._order.remove(channel)
                if lane:
                    self._order.append(channel)
                else:
                    del self._waiting[channel]
                if job.is_dead():
                    dropped.append(job)
                    continue
                self._running[channel] += 1
                taken.append(job)
        _fail_dead(dropped)
        return taken

    def _pick_channel(self) -> str | None:
        best: str | None = None
        best_priority = 0
        for channel in self._order:
            if self._running[channel] >= self._per_channel_limit:
                continue
            priority = -self._waiting[channel][0][0]
            if best is None or priority > best_priority:
                best, best_priority = channel, priority
        return best

    def release(self, job: Job) -> None:
        """A taken job finished (any outcome): its channel may run another one."""
        with self._cond:
            self._running[job.channel_key] -= 1
            if self._running[job.channel_key] <= 0:
                del self._running[job.channel_key]
            self._cond.notify_all()
        self._notify()

    def discard(self, job: Job) -> bool:
        """Remove a waiting job (its caller gave up); False when it was not waiting."""
        with self._cond:
            lane = self._waiting.get(job.channel_key)
            if not lane:
                return False
            for index, entry in enumerate(lane):
                if entry[2] is job:
                    del lane[index]
                    self._depth -= 1
                    if not lane:
                        del self._waiting[job.channel_key]
                        self._order.remove(job.channel_key)
                    return True
        return False

    def wait(self, timeout: float) -> None:
        """Block the calling (worker) thread until something changes or ``timeout`` passes."""
        with self._cond:
            if self._depth == 0 and not self._closed:
                self._cond.wait(timeout)

    def close(self) -> list[Job]:
        """Refuse new jobs and return the ones still waiting (the caller fails them)."""
        with self._cond:
            self._closed = True
            jobs = [entry[2] for lane in self._waiting.values() for entry in lane]
            self._waiting.clear()
            self._order.clear()
            self._depth = 0
            self._cond.notify_all()
        self._notify()
        return jobs

    @property
    def closed(self) -> bool:
        return self._closed

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


def _fail_dead(jobs: list[Job]) -> None:

    events: list[tuple[Job, Event]] = []
    for job in jobs:
        error: BaseException = (
            GenerationCancelled("cancelled") if job.cancelled.is_set() else GenerationTimeout()
        )
        events.append((job, error))
    if events:
        post(events)
