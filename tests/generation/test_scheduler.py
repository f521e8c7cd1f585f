"""The fair admission queue and the stop-string scanner, in isolation."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import Overloaded
from bot.generation.jobs import Job, PreparedPrompt
from bot.generation.scheduler import FairQueue
from bot.generation.text import StopScanner
from bot.generation.types import GenerationRequest

PROMPT = PreparedPrompt(text="x", token_ids=(1,), prompt_tokens=1, max_new_tokens=4)


def _job(channel: str, priority: int = 0) -> Job:
    request = GenerationRequest("x", channel_key=channel, priority=priority)
    return Job(request, PROMPT, asyncio.get_running_loop(), timeout_s=None)


async def test_busy_channel_cannot_starve_others() -> None:
    queue = FairQueue(capacity=10, per_channel_limit=10)
    busy = [_job("busy") for _ in range(4)]
    quiet = _job("quiet")
    for job in [*busy, quiet]:
        queue.put(job)
    assert queue.take(2) == [busy[0], quiet]  # round robin, not arrival order
    assert queue.take(5) == busy[1:]


async def test_per_channel_limit_holds_until_release() -> None:
    queue = FairQueue(capacity=10, per_channel_limit=1)
    a1, a2, b1 = _job("a"), _job("a"), _job("b")
    for job in (a1, a2, b1):
        queue.put(job)
    assert queue.take(3) == [a1, b1]
    assert queue.take(3) == []  # a2 waits for a1's slot
    queue.release(a1)
    assert queue.take(3) == [a2]
    assert queue.running == 2


async def test_priority_first_then_fairness() -> None:
    queue = FairQueue(capacity=10, per_channel_limit=10)
    low, high = _job("a"), _job("b", priority=5)
    queue.put(low)
    queue.put(high)
    assert queue.take(1) == [high]


async def test_full_queue_reports_position_and_skips_dead_jobs() -> None:
    queue = FairQueue(capacity=2, per_channel_limit=10, estimate_wait=lambda p: 3.0 * p)
    first, second = _job("a"), _job("b")
    queue.put(first)
    queue.put(second)
    with pytest.raises(Overloaded) as caught:
        queue.put(_job("c"))
    assert caught.value.position == 3 and caught.value.estimated_wait_s == 9.0
    first.cancel()
    assert queue.take(5) == [second]  # the cancelled job is dropped, not handed out
    assert queue.depth == 0
    assert queue.discard(second) is False


def test_stop_scanner_holds_back_possible_stop_starts() -> None:
    scanner = StopScanner(("THE END",))
    shown = scanner.feed("Once upon a time. THE")
    assert shown == "Once upon a time. "  # " THE" could start the stop string
    shown += scanner.feed(" EN")
    assert not scanner.stopped
    shown += scanner.feed("D and more")
    assert scanner.stopped and scanner.text == "Once upon a time. "
    assert shown == scanner.text
    other = StopScanner(("THE END",))
    assert other.feed("THE EAGLE") == "THE EAGLE"
