"""Benchmark: prompt assembly cost vs story length, and durable turns/s with group commit.

``python -m bench context --out FILE`` (or ``python -m bench.context --out FILE``) measures, in
one run on a SQLite file with the store's real durability settings:

- prompt assembly for a 100-turn and a 100,000-turn story (same budget, median of repeats);
  ``assembly_ratio`` = long / short should stay <= 1.5 (cost grows with the window, not the story);
- accepted turns/s through ``store.turns.add`` from 50 concurrent channel writers, each turn
  committed before its call returns (group commit), next to the naive pattern (one ORM
  session and one commit per turn) on the same database settings; ``group_commit_speedup``
  is their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.records import TurnKind
from bot.types import Author, ChannelRef, utcnow
from storage.models import TurnRow, turns
from storage.settings import StorageSettings
from storage.store import Store, open_store

log = logging.getLogger(__name__)

SENTENCES = [
    "The knight sharpened his sword by the fire while the wind howled outside",
    "A dragon slept under the mountain, dreaming of gold and of the sea",
    "The wizard's tower glowed blue in the night above the silent forest",
    "Rain drummed on the roof of the old inn where the travellers waited",
]
WRITERS = 50


def load_counter() -> tuple[Callable[[str], int], str]:
    """The bundled model's tokenizer if present, else a whitespace counter."""
    try:
        from bot.models import bundled_model_path

        path = bundled_model_path()
        if (path / "tokenizer.json").exists():
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(path))
            return (
                lambda s: len(tok(s, add_special_tokens=False)["input_ids"]),
                f"bundled:{path.name}",
            )
    except Exception as exc:  # the benchmark still runs without the model
        log.warning("bundled tokenizer unavailable (%s); counting words", exc)
    return (lambda s: len(s.split())), "whitespace"


async def _fill(store: Store, story_id: int, n: int) -> None:
    rows = [
        {
            "story_id": story_id,
            "position": i + 1,
            "author_id": str(i % 3),
            "author_name": ("Alice", "Bob", "Narrator")[i % 3],
            "kind": TurnKind.BOT.value if i % 3 == 2 else TurnKind.PLAYER.value,
            "text": f"{SENTENCES[i % len(SENTENCES)]} ({i}).",
            "token_count": None,
            "created_at": utcnow(),
        }
        for i in range(n)
    ]
    for start in range(0, n, 5000):
        async with store.db.write() as conn:
            await conn.execute(insert(turns), rows[start : start + 5000])


async def bench_assembly(
    store: Store, count: Callable[[str], int], *, repeats: int, budget: int, progress: Progress
) -> dict[str, Any]:
    author = Author("1", "Alice")
    short = await store.stories.create(ChannelRef("short", "bench"), author, memory="A story.")
    long = await store.stories.create(ChannelRef("long", "bench"), author, memory="A story.")
    await _fill(store, short.id, 100)
    await _fill(store, long.id, 100_000)
    async with store.db.write_engine.connect() as conn:  # start both from a checkpointed file
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    for story in (short, long):  # warm up: caches token counts of the window
        await store.assemble_context(story, budget, count, cue="Narrator:")
    times: dict[int, list[float]] = {short.id: [], long.id: []}
    task = progress.add_task("prompt assembly", total=repeats)
    included = {}
    for _ in range(repeats):
        for story in (short, long):  # interleaved, so machine noise hits both alike
            t0 = time.perf_counter()
            ctx = await store.assemble_context(story, budget, count, cue="Narrator:")
            times[story.id].append(time.perf_counter() - t0)
            included[story.id] = len(ctx.turn_ids)
        progress.advance(task)
    s100 = statistics.median(times[short.id])
    s100k = statistics.median(times[long.id])
    return {
        "assembly_seconds_100": s100,
        "assembly_seconds_100000": s100k,
        "assembly_ratio": s100k / s100,
        "assembly_budget_tokens": budget,
        "assembly_turns_included_100": included[short.id],
        "assembly_turns_included_100000": included[long.id],
        "assembly_repeats": repeats,
    }


async def _stories(store: Store, prefix: str) -> list[int]:
    author = Author("1", "Alice")
    return [
        (await store.stories.create(ChannelRef(f"{prefix}{i}", "bench"), author)).id
        for i in range(WRITERS)
    ]


async def bench_group_commit(
    store: Store, per_writer: int, progress: Progress
) -> tuple[float, int]:
    story_ids = await _stories(store, "gc")
    task = progress.add_task("group commit writers", total=WRITERS * per_writer)

    async def writer(story_id: int) -> None:
        for i in range(per_writer):
            await store.turns.add(
                story_id,
                author_id="1",
                author_name="Alice",
                kind=TurnKind.PLAYER,
                text=f"{SENTENCES[i % len(SENTENCES)]}.",
            )
            progress.advance(task)

    batches = store.commit_batches
    t0 = time.perf_counter()
    await asyncio.gather(*(writer(sid) for sid in story_ids))
    elapsed = time.perf_counter() - t0
    return WRITERS * per_writer / elapsed, store.commit_batches - batches


async def bench_naive(store: Store, per_writer: int, progress: Progress) -> float:
    """One ORM session and one commit per turn, same engine and durability settings."""
    story_ids = await _stories(store, "naive")
    task = progress.add_task("naive writers", total=WRITERS * per_writer)
    engine = store.db.write_engine

    async def writer(story_id: int) -> None:
        for i in range(per_writer):
            async with AsyncSession(engine) as session:
                last = await session.scalar(
                    select(func.max(TurnRow.position)).where(TurnRow.story_id == story_id)
                )
                session.add(
                    TurnRow(
                        story_id=story_id,
                        position=(last or 0) + 1,
                        author_id="1",
                        author_name="Alice",
                        kind=TurnKind.PLAYER.value,
                        text=f"{SENTENCES[i % len(SENTENCES)]}.",
                        created_at=utcnow(),
                    )
                )
                await session.commit()
            progress.advance(task)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(sid) for sid in story_ids))
    return WRITERS * per_writer / (time.perf_counter() - t0)


async def _durability(store: Store) -> dict[str, Any]:
    async with store.db.write() as conn:
        journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        sync = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {
        "database": "sqlite (aiosqlite)",
        "journal_mode": journal,
        "synchronous": names.get(int(sync), str(sync)),
        "commit_before_return": True,
        "group_commit_max_batch": store.db.settings.group_commit_max_batch,
        "group_commit_linger_ms": store.db.settings.group_commit_linger_ms,
    }


async def run(*, quick: bool = False, database: Path | None = None) -> dict[str, Any]:
    count, tokenizer = load_counter()
    per_writer = 40 if quick else 200
    naive_per_writer = 10 if quick else 40
    repeats = 10 if quick else 40
    with tempfile.TemporaryDirectory(prefix="storyloom-bench-") as tmp:
        settings = StorageSettings(url=str(database or Path(tmp) / "bench.db"))  # defaults
        store = await open_store(settings)
        try:
            with Progress() as progress:
                results: dict[str, Any] = {"tokenizer": tokenizer, "quick": quick}
                results.update(
                    await bench_assembly(
                        store, count, repeats=repeats, budget=1024, progress=progress
                    )
                )
                naive = await bench_naive(store, naive_per_writer, progress)
                tps, batches = await bench_group_commit(store, per_writer, progress)
                full = await open_store(
                    StorageSettings(url=str(Path(tmp) / "full.db"), sqlite_synchronous="FULL")
                )
                try:
                    tps_full, _ = await bench_group_commit(full, per_writer, progress)
                finally:
                    await full.close()
            results.update(
                {
                    "turns_per_s": tps,
                    "naive_turns_per_s": naive,
                    "group_commit_speedup": tps / naive,
                    "turns_per_s_sync_full": tps_full,
                    "writers": WRITERS,
                    "turns_written": WRITERS * per_writer,
                    "naive_turns_written": WRITERS * naive_per_writer,
                    "commit_batches": batches,
                    "mean_batch_size": WRITERS * per_writer / max(batches, 1),
                    "durability": await _durability(store),
                }
            )
        finally:
            await store.close()
    return results


def main(out: Path = Path("bench/results/context.json"), quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print the ratios and write the JSON results to ``out``."""
    results = asyncio.run(run(quick=quick))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        f"assembly: 100 turns {results['assembly_seconds_100'] * 1e3:.2f} ms, "
        f"100,000 turns {results['assembly_seconds_100000'] * 1e3:.2f} ms, "
        f"ratio {results['assembly_ratio']:.2f} (target <= 1.5)"
    )
    print(
        f"durable turns/s from {WRITERS} writers: group commit {results['turns_per_s']:.0f}, "
        f"naive {results['naive_turns_per_s']:.0f}, speedup {results['group_commit_speedup']:.1f}x "
        f"(target >= 5,000/s; synchronous={results['durability']['synchronous']}); "
        f"with synchronous=FULL (fsync per commit): {results['turns_per_s_sync_full']:.0f}"
    )
    print(f"results written to {out}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/context.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(out=args.out, quick=args.quick)
