from __future__ import annotations

import asyncio
import itertools
import time

from bot.adapters.discord.throttle import EditThrottle


class Recorder:
    def __init__(self) -> None:
        self.applied: list[tuple[str, str, float]] = []

    async def apply(self, key: str, value: str) -> None:
        self.applied.append((key, value, time.monotonic()))
        await asyncio.sleep(0)


async def test_bursts_are_coalesced_and_the_last_value_is_flushed() -> None:
    recorder = Recorder()
    throttle: EditThrottle[str] = EditThrottle(0.2, recorder.apply)
    throttle.touched("m1")
    for i in range(20):
        await throttle.edit("m1", f"v{i}")
    assert recorder.applied == []  # all inside the first interval after the send
    await throttle.flush()
    assert [v for _, v, _ in recorder.applied] == ["v19"]


async def test_edits_are_spaced_by_the_interval() -> None:
    recorder = Recorder()
    throttle: EditThrottle[str] = EditThrottle(0.05, recorder.apply)
    start = time.monotonic()
    for i in range(30):
        await throttle.edit("m1", f"v{i}")
        await asyncio.sleep(0.01)
    await throttle.flush()
    stamps = [start] + [t for _, _, t in recorder.applied]
    values = [v for _, v, _ in recorder.applied]
    assert values[0] == "v0" and values[-1] == "v29"
    assert len(values) < 30
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]
    assert all(gap >= 0.05 - 1e-3 for gap in gaps)


async def test_messages_are_throttled_independently() -> None:
    recorder = Recorder()
    throttle: EditThrottle[str] = EditThrottle(0.1, recorder.apply)
    await throttle.edit("a", "a1")
    await throttle.edit("b", "b1")
    await throttle.edit("a", "a2")
    assert [v for _, v, _ in recorder.applied] == ["a1", "b1"]
    assert throttle.pending == 1
    await throttle.flush()
    assert [v for _, v, _ in recorder.applied] == ["a1", "b1", "a2"]
    assert throttle.pending == 0
