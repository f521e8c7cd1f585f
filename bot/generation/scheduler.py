"""The admission queue: bounded, fair across channels, priority first, thread-safe."""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from bot.errors import GenerationCancelled, GenerationTimeout, Overloaded
from bot.generation.jobs import Event, Job, post


class FairQueue:
    """Jobs wait here until a backend takes them.

    ``put`` raises :class:`Overloaded` when ``capacity`` jobs already wait. ``take`` serves the
    highest priority first and, within a priority, channels in round-robin order; a channel never
    has more than ``per_channel_limit`` jobs taken and not yet released. ``slots`` is how many
    jobs the backend runs at once (None: as many as are taken); positions use it to tell when a
    running job's channel competes again.
    """

    def __init__(
        self,
        capacity: int,
        per_channel_limit: int,
        *,
        estimate_wait: Callable[[int], float | None] = lambda position: None,
        slots: int | None = None,
    ) -> None:
        self._capacity = capacity
        self._slots = None if slots is None else max(1, slots)
        self._per_channel_limit = per_channel_limit
        self._estimate_wait = estimate_wait
        self._cond = threading.Condition()
        self._waiting: dict[str, list[tuple[int, int, Job]]] = {}
        self._order: deque[str] = deque()
        self._running: Counter[str] = Counter()
        self._started: deque[str] = deque()  # the running jobs' channels, oldest first
        self._seq = 0
        self._depth = 0
        self._closed = False
        self._listeners: list[Callable[[], object]] = []
        self._watched = 0  # waiting jobs that want their position (see queue_watch)

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
            if job.on_position is not None:
                self._watched += 1
            moved = self._positions()
            self._cond.notify_all()
        _tell(moved)
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
                if job.on_position is not None:
                    self._watched -= 1
                if job.is_dead():
                    dropped.append(job)
                    continue
                self._running[channel] += 1
                self._started.append(channel)
                job.started_at = time.monotonic()
                taken.append(job)
            moved = self._positions() if taken or dropped else []
            for job in taken:
                if job.on_position is not None:
                    job.position = 0
                    moved.append((job, 0))
        _tell(moved)
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
            with contextlib.suppress(ValueError):
                self._started.remove(job.channel_key)
            moved = self._positions()
            self._cond.notify_all()
        _tell(moved)
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
                    if job.on_position is not None:
                        self._watched -= 1
                    if not lane:
                        del self._waiting[job.channel_key]
                        self._order.remove(job.channel_key)
                    moved = self._positions()
                    break
            else:
                return False
        _tell(moved)
        return True

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
            self._started.clear()
            self._depth = 0
            self._watched = 0
            self._cond.notify_all()
        self._notify()
        return jobs

    @property
    def closed(self) -> bool:
        return self._closed

    def position(self, job: Job) -> int | None:
        """Where ``job`` waits (1: taken next), 0 when taken, None when not queued here."""
        with self._cond:
            return self._serving_order().get(job, 0 if job.position == 0 else None)

    def _positions(self) -> list[tuple[Job, int]]:
        """Recompute watched jobs' positions (lock held); the ones that changed."""
        if not self._watched:
            return []
        moved: list[tuple[Job, int]] = []
        for job, place in self._serving_order().items():
            if job.on_position is not None and job.position != place:
                job.position = place
                moved.append((job, place))
        return moved

    def _serving_order(self) -> dict[Job, int]:
        """Every waiting job's place in the order ``take`` would serve them if nothing else
        arrived: priority first, channels in turn, per-channel limits honoured. With ``slots``
        known, a full backend frees its oldest running job's slot (and channel) before the next
        job is taken, so a busy channel's higher-priority backlog stays ahead. Lock held."""
        lanes = {channel: iter(lane) for channel, lane in self._waiting.items()}
        left = {channel: len(lane) for channel, lane in self._waiting.items()}
        heads = {channel: lane[0][0] for channel, lane in self._waiting.items()}
        order = deque(self._order)
        running = Counter(self._running)
        started = deque(self._started)
        free = None if self._slots is None else self._slots - len(started)
        places: dict[Job, int] = {}
        while order:
            if free is not None and free <= 0 and started:
                running[started.popleft()] -= 1
                free += 1
                continue
            best: str | None = None
            for channel in order:
                if running[channel] >= self._per_channel_limit:
                    continue
                if best is None or heads[channel] < heads[best]:
                    best = channel
            if best is None:  # every channel at its limit: running jobs finish first
                if free is not None and started:
                    running[started.popleft()] -= 1
                    free += 1
                else:
                    running.clear()
                continue
            _, _, job = next(lanes[best])
            places[job] = len(places) + 1
            running[best] += 1
            if free is not None:
                started.append(best)
                free -= 1
            left[best] -= 1
            order.remove(best)
            if left[best]:
                order.append(best)
                heads[best] = self._waiting[best][len(self._waiting[best]) - left[best]][0]
        return places

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


def _tell(moved: list[tuple[Job, int]]) -> None:
    """Deliver position changes to the jobs' event loops (any thread; the lock not held)."""
    for job, place in moved:
        callback = job.on_position
        if callback is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
                job.loop.call_soon_threadsafe(callback, place)


def _fail_dead(jobs: list[Job]) -> None:

    events: list[tuple[Job, Event]] = []
    for job in jobs:
        error: BaseException = (
            GenerationCancelled("cancelled") if job.cancelled.is_set() else GenerationTimeout()
        )
        events.append((job, error))
    if events:
        post(events)
