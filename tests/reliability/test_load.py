"""The load harness at CI size, and backpressure: a full queue answers "busy", loses nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from bench import load
from bot.adapters.console import CONSOLE_GUILD, run_jsonl
from bot.records import TurnKind
from bot.types import ChannelRef
from tests.conftest import AppFactory
from tests.reliability.conftest import line, problems


class _Quiet:
    def update(self, n: int) -> None:
        pass


async def test_core_path_and_full_path_lose_nothing(make_fast_app: AppFactory) -> None:
    app = await make_fast_app()
    core = await load.core_overhead(app, channels=4, messages=24, progress=_Quiet())
    assert core["accepted"] >= 24 and core["accepted_and_stored"] == core["accepted"]
    assert core["tracebacks"] == 0 and core["add"]["per_s"] > 0
    full, refs, tally = await load.full_path(
        app, channels=3, players=2, seconds=2.0, think_s=0.2, progress=_Quiet()
    )
    await app.router.drain(60.0)
    stored = await load._count_steps(app, refs)
    assert tally.accepted_steps, full
    assert tally.accepted_steps <= stored, f"lost: {sorted(tally.accepted_steps - stored)}"
    assert not tally.rejected_steps & stored, "a refused turn was stored"
    assert tally.tracebacks == 0 and tally.raw_mentions == 0
    internal = sum(c[load.Outcome.INTERNAL_ERROR] for c in tally.outcomes.values())
    assert internal == 0, full["outcomes"]


async def test_a_full_queue_answers_busy_and_stores_nothing_for_the_refused(
    make_fast_app: AppFactory,
) -> None:
    app = await make_fast_app(
        generation={"queue_size": 2, "max_batch_size": 1, "per_channel_limit": 1}
    )
    channels = [f"busy-{i}" for i in range(8)]
    setup = [line(f"/story start A story number {i}", channel=c) for i, c in enumerate(channels)]
    setup += [line("/story add The wind blew over the hill.", channel=c) for c in channels]
    assert problems(await run_jsonl(app, setup)) == []
    worker = app.generation._backend._worker  # type: ignore[attr-defined]
    original = worker._decoder  # the model's forward or the lean decoder: one call per step
    release = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return original(*args, **kwargs)

    worker._decoder = held
    try:
        pending = asyncio.create_task(
            run_jsonl(app, [line("/story continue", channel=c) for c in channels])
        )
        for _ in range(600):  # until 1 runs, 2 wait and the other 5 were turned away
            if app.generation.stats().rejected >= 5 or pending.done():
                break
            await asyncio.sleep(0.05)
        stats = app.generation.stats()
        assert stats.queue_depth <= 2
        release.set()
        out = await pending
    finally:
        release.set()
        worker._decoder = original
    assert problems(out) == [], out
    busy = [r for r in out if "I'm busy writing for others" in r["text"]]
    assert len(busy) == 5 and all(r["kind"] == "notice" for r in busy), out
    assert not any("took too long" in r["text"] for r in out)
    served = 0
    for channel in channels:
        story = await app.store.stories.get_active(ChannelRef(channel, CONSOLE_GUILD))
        assert story is not None
        bots = [t for t in await app.store.turns.all(story.id) if t.kind is TurnKind.BOT]
        refused = any(r["channel"] == channel and r in busy for r in out)
        assert len(bots) == (0 if refused else 1), (channel, bots)
        served += len(bots)
    assert served == 3


async def test_bench_main_writes_results(tmp_path: Path) -> None:
    """``python -m bench load`` end to end at the smallest size (its own app, its own data)."""
    out = tmp_path / "load.json"
    results = await asyncio.to_thread(
        load.main, out, 2, 2.0, players=2, think_s=0.3, max_new_tokens=8, core_messages=20
    )
    assert out.is_file()
    lost = results["nothing_lost"]
    assert lost["accepted_turns"] > 0 and lost["lost"] == [] and lost["rejected_but_stored"] == []
    assert lost["stored_after_restart"] == lost["accepted_turns"]
    assert results["backpressure"]["tracebacks_shown"] == 0
    assert results["queue_depth"]["max"] <= results["queue_depth"]["limit"]
