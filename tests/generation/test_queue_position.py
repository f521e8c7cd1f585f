"""Queue positions: the order the queue will really serve in, and updates while requests wait."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.generation import (
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.jobs import Job, PreparedPrompt
from bot.generation.queue_watch import describe_position, ordinal, watch_queue
from bot.generation.scheduler import FairQueue
from bot.generation.server import create_app
from tests.generation.helpers import Gate, serving, until

SHORT = SamplingParams(temperature=0.0, ignore_eos=True, max_new_tokens=2)


def _job(channel: str, priority: int = 0) -> Job:
    request = GenerationRequest("x", SHORT, channel_key=channel, priority=priority)
    prompt = PreparedPrompt(text="x", token_ids=(1,), prompt_tokens=1, max_new_tokens=2)
    return Job(request, prompt, asyncio.get_running_loop(), timeout_s=None)


async def test_positions_are_the_order_take_serves_in() -> None:
    rng = random.Random(7)
    for _ in range(30):
        queue = FairQueue(capacity=200, per_channel_limit=rng.choice([1, 2, 8]))
        first = [_job(f"c{rng.randrange(4)}") for _ in range(rng.randrange(4))]
        for job in first:
            queue.put(job)
        running = queue.take(len(first))  # a channel at its limit leaves some waiting
        jobs = [job for job in first if job not in running] + [
            _job(f"c{rng.randrange(6)}", priority=rng.choice([0, 0, 0, 1, 2]))
            for _ in range(rng.randrange(1, 40))
        ]
        for job in jobs[len(first) - len(running) :]:
            queue.put(job)
        predicted = {job: queue.position(job) for job in jobs}
        assert sorted(predicted.values()) == list(range(1, len(jobs) + 1))
        served: list[Job] = []
        while len(served) < len(jobs):
            taken = queue.take(1)
            if not taken:  # every channel at its limit: let the running jobs finish
                for job in [*running, *served]:
                    with contextlib.suppress(KeyError):
                        queue.release(job)
                running = []
                continue
            served += taken
            assert queue.position(taken[0]) is None  # no longer waiting
        assert [predicted[job] for job in served] == list(range(1, len(jobs) + 1))


async def test_positions_with_a_full_backend_keep_a_busy_channels_backlog_ahead() -> None:
    """A backend with ``slots`` rows that frees its oldest row first serves in the predicted
    order, including a higher-priority backlog from one channel whose job is running."""
    rng = random.Random(11)
    for _ in range(30):
        slots = rng.choice([1, 2, 3])
        queue = FairQueue(capacity=200, per_channel_limit=rng.choice([1, 2]), slots=slots)
        backlog = [_job("busy", priority=5) for _ in range(rng.randrange(1, 4))]
        for job in backlog:
            queue.put(job)
        rows = queue.take(slots)
        jobs = [
            _job(f"c{rng.randrange(5)}", priority=rng.choice([0, 0, 1, 5]))
            for _ in range(rng.randrange(1, 30))
        ]
        for job in jobs:
            queue.put(job)
        jobs = [job for job in backlog if job not in rows] + jobs
        predicted = {job: queue.position(job) for job in jobs}
        assert sorted(predicted.values()) == list(range(1, len(jobs) + 1))
        served: list[Job] = []
        while len(served) < len(jobs):
            taken = queue.take(slots - len(rows)) if len(rows) < slots else []
            if not taken:  # full, or every channel at its limit: the oldest row finishes
                queue.release(rows.pop(0))
                continue
            rows += taken
            served += taken
        assert [predicted[job] for job in served] == list(range(1, len(jobs) + 1))


def test_ordinals_and_texts() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd", "111th"
    ]  # fmt: skip
    assert "3rd in line" in describe_position(3)
    assert "next" in describe_position(1)
    assert "Writing" in describe_position(0)


@dataclass(slots=True)
class OneSlot:
    """A service with one batch slot whose running request is held at a gate in front of the
    model server (a real one) until the test opens it; every other request waits in its queue."""

    service: GenerationService
    gate: Gate

    async def occupy(self) -> asyncio.Task[object]:
        request = GenerationRequest("Once", SHORT, channel_key="a")
        running: asyncio.Task[object] = asyncio.create_task(self.service.complete(request))
        await until(lambda: self.gate.waiting == 1)
        return running


@pytest.fixture
async def one_slot(tiny_model_dir: Path) -> AsyncIterator[OneSlot]:
    model = GenerationSettings(model=str(tiny_model_dir), device="cpu")
    async with build_generation_service(model) as local:
        gate = Gate(create_app(local))
        async with serving(gate) as url:
            settings = GenerationSettings(
                backend="openai", base_url=url, max_batch_size=1, per_channel_limit=1
            )
            async with build_generation_service(settings) as svc:
                yield OneSlot(svc, gate)


async def test_waiting_requests_hear_their_position_as_the_queue_moves(
    one_slot: OneSlot,
) -> None:
    svc = one_slot.service
    running = await one_slot.occupy()  # the only slot is busy
    heard: dict[str, list[int]] = {"b": [], "c": [], "d": [], "e": []}
    tasks: dict[str, asyncio.Task[object]] = {}

    def submit(channel: str, priority: int = 0) -> None:
        with watch_queue(heard[channel].append):
            request = GenerationRequest("Tale", SHORT, channel_key=channel, priority=priority)
            tasks[channel] = asyncio.create_task(svc.complete(request))

    for channel in "bcd":
        submit(channel)
    await until(lambda: [h[-1:] for h in (heard["b"], heard["c"], heard["d"])] == [[1], [2], [3]])
    submit("e", priority=5)  # jumps the line: everyone else moves back
    await until(lambda: heard["e"][-1:] == [1] and heard["d"][-1:] == [4])
    assert heard["b"] == [1, 2] and heard["c"] == [2, 3]
    tasks["c"].cancel()  # c gives up: d moves up
    await until(lambda: heard["d"][-1:] == [3])
    one_slot.gate.open.set()  # the slot frees: e is written first, then b, then d
    await asyncio.gather(running, tasks["e"], tasks["b"], tasks["d"])
    assert heard["e"] == [1, 0]
    assert heard["b"] == [1, 2, 1, 0]
    assert heard["d"] == [3, 4, 3, 2, 1, 0]


async def test_a_watch_reports_the_best_place_of_its_requests(one_slot: OneSlot) -> None:
    svc = one_slot.service
    running = await one_slot.occupy()
    heard: list[int] = []
    with watch_queue(heard.append):
        many = asyncio.gather(
            *(svc.complete(GenerationRequest("Tale", SHORT, channel_key="b")) for _ in range(3))
        )
    await until(lambda: heard == [1])  # the first of the three is next
    one_slot.gate.open.set()
    await asyncio.gather(running, many)
    assert heard == [1, 0]  # then it is being written; the rest follow without more noise
