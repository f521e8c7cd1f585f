"""KeyedLocks: mutual exclusion per key, and no memory kept for keys nobody uses."""

from __future__ import annotations

import asyncio

from plugins.kit.locks import KeyedLocks


async def test_one_key_is_held_by_one_task_at_a_time_and_other_keys_run_alongside() -> None:
    locks = KeyedLocks()
    events: list[str] = []
    first_inside = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            events.append("first in")
            first_inside.set()
            await release_first.wait()
            events.append("first out")

    async def second() -> None:
        await first_inside.wait()
        async with locks.hold("a"):
            events.append("second in")

    async def other() -> None:
        await first_inside.wait()
        async with locks.hold("b"):
            events.append("other key")

    tasks = [asyncio.create_task(f()) for f in (first, second, other)]
    await first_inside.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert locks.locked("a") and not locks.locked("b")
    assert events == ["first in", "other key"]  # "b" ran while "a" was held; "a" waited
    assert len(locks) == 1  # "b" is already gone; "a" has a holder and a waiter
    release_first.set()
    await asyncio.gather(*tasks)
    assert events == ["first in", "other key", "first out", "second in"]
    assert len(locks) == 0


async def test_a_failing_or_cancelled_holder_releases_and_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0 and not locks.locked("a")

    holding = asyncio.Event()

    async def hold_forever() -> None:
        async with locks.hold("a"):
            holding.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold_forever())
    await holding.wait()
    waiter = asyncio.create_task(_enter(locks, "a"))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await waiter  # the waiter gets the lock once the cancelled holder let go
    assert len(locks) == 0


async def test_memory_follows_keys_in_use_not_keys_ever_seen() -> None:
    locks = KeyedLocks()
    for i in range(10_000):
        async with locks.hold(f"channel-{i}"):
            pass
    assert len(locks) == 0


async def _enter(locks: KeyedLocks, key: str) -> None:
    async with locks.hold(key):
        pass
