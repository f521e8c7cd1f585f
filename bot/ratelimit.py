"""Token-bucket rate limits keyed by user, channel or command (in memory, per process)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` events per ``per`` seconds, with bursts up to ``rate``."""

    rate: int
    per: float


class RateLimiter:
    """Buckets for many keys; the least recently used keys are forgotten beyond ``max_keys``."""

    def __init__(
        self, limit: Limit, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def hit(self, key: str) -> float:
        """Take one token for ``key``. Returns 0.0 if allowed, else seconds until a token frees."""
        now = self._clock()
        capacity = float(self.limit.rate)
        refill = self.limit.rate / self.limit.per
        tokens, stamp = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + (now - stamp) * refill)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / refill
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait
