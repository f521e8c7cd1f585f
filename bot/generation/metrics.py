"""Counters and timings of the generation service, with an optional Prometheus exposition."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.generation.jobs import Job

_WINDOW_S = 10.0

RequestObserver = Callable[[str, float | None, float | None], None]
"""Told when a request ends: ``(outcome, seconds it waited in the queue, seconds in all)``; the
times are None for a request that was never queued (or, the wait, never taken from the queue)."""


class ServiceMetrics:
    """Thread-safe measurements; backends record, the service and ``/metrics`` read."""

    def __init__(self, *, prometheus: bool = False) -> None:
        self._lock = threading.Lock()
        self._token_events: deque[tuple[float, int]] = deque()
        self._ttfts: deque[float] = deque(maxlen=512)
        self._batch_steps = 0
        self._batch_rows = 0
        self.last_batch_size = 0
        self.generated_tokens = 0
        self.outcomes: dict[str, int] = {
            "completed": 0,
            "rejected": 0,
            "timed_out": 0,
            "cancelled": 0,
            "failed": 0,
        }
        self._prom: _Prometheus | None = _Prometheus() if prometheus else None
        self._observers: list[RequestObserver] = []

    def add_observer(self, observer: RequestObserver) -> None:
        """Call ``observer`` (on the event loop) whenever a request ends (the bot's metrics)."""
        self._observers.append(observer)

    def record_step(self, batch_size: int, new_tokens: int) -> None:
        """One decoding step over ``batch_size`` rows produced ``new_tokens`` tokens."""
        now = time.monotonic()
        with self._lock:
            self._batch_steps += 1
            self._batch_rows += batch_size
            self.last_batch_size = batch_size
            self.generated_tokens += new_tokens
            self._token_events.append((now, new_tokens))
            while self._token_events and self._token_events[0][0] < now - _WINDOW_S:
                self._token_events.popleft()
        if self._prom is not None:
            self._prom.batch_size.observe(batch_size)
            self._prom.tokens.inc(new_tokens)

    def record_ttft(self, seconds: float) -> None:
        with self._lock:
            self._ttfts.append(seconds)
        if self._prom is not None:
            self._prom.ttft.observe(seconds)

    def record_outcome(self, outcome: str, job: Job | None = None) -> None:
        """A request ended; ``job`` (when it was queued) gives its queue wait and duration."""
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if self._prom is not None:
            self._prom.requests.labels(outcome=outcome).inc()
        if self._observers:
            wait = total = None
            if job is not None:
                total = time.monotonic() - job.submitted_at
                if job.started_at is not None:
                    wait = job.started_at - job.submitted_at
            for observer in self._observers:
                observer(outcome, wait, total)

    def set_load(self, queue_depth: int, active: int) -> None:
        if self._prom is not None:
            self._prom.queue_depth.set(queue_depth)
            self._prom.active.set(active)

    def tokens_per_s(self) -> float:
        """Generated tokens per second over the last few seconds."""
        now = time.monotonic()
        with self._lock:
            events = [e for e in self._token_events if e[0] >= now - _WINDOW_S]
        if len(events) < 2:
            return 0.0
        span = max(now - events[0][0], 1e-6)
        return sum(n for _, n in events) / span

    def mean_batch_size(self) -> float:
        with self._lock:
            return self._batch_rows / self._batch_steps if self._batch_steps else 0.0

    def ttft_median(self) -> float | None:
        with self._lock:
            return statistics.median(self._ttfts) if self._ttfts else None

    @property
    def prometheus_enabled(self) -> bool:
        return self._prom is not None

    def exposition(self) -> tuple[bytes, str]:
        """Prometheus text exposition and its content type (metrics must be enabled)."""
        if self._prom is None:
            raise RuntimeError("Prometheus metrics are not enabled")
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self._prom.registry), CONTENT_TYPE_LATEST


class _Prometheus:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry}
        self.queue_depth = Gauge("storyloom_generation_queue_depth", "Requests waiting", **kw)
        self.active = Gauge("storyloom_generation_active", "Requests being generated", **kw)
        self.batch_size = Histogram(
            "storyloom_generation_batch_size",
            "Rows per decoding step",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            **kw,
        )
        self.ttft = Histogram(
            "storyloom_generation_ttft_seconds",
            "Time to first streamed text",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            **kw,
        )
        self.tokens = Counter("storyloom_generation_tokens", "Generated tokens", **kw)
        self.requests = Counter(
            "storyloom_generation_requests", "Finished requests by outcome", ["outcome"], **kw
        )
