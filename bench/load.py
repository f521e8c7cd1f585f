"""The whole bot under load: many channels of players, in one process, with the bundled model.

Two phases, side by side in one run:

1. **Core overhead** (no generation): players add turns as plain messages in channels whose story
   never auto-continues, and call ``/help``. Measures messages/s through adapter contract ->
   router -> moderation -> storage (design target: >= 2,000/s on one process with SQLite) and the
   ratio of a stored turn to a router-only command.
2. **Full path**: ``channels`` channels, each with a free-mode story and ``players`` players who
   add turns, ask for continuations (streamed, moderated, stored), show and recap the story, and
   ask for poems and headlines, with human-like pauses. Every answer is recorded by an in-process
   responder and classified (ok, busy, rate limited, refused, timeout, internal error).

Reported: throughput, p50/p95/p99 latency per command kind, generation queue depth over time,
RSS memory over time (growth between the first and last third of the run), the "busy" answers
(backpressure must show as polite notices, not timeouts), and **nothing lost**: every accepted
player turn is in the database afterwards, counted again after the app is closed and reopened.

Run: ``python -m bench load --channels 50 --seconds 60 --out bench/results/load-50.json``;
only the core-overhead phase: ``python -m bench.load --core-only --out bench/results/load-core.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import platform
import random
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.types import Author, ChannelRef, Incoming, Reply, SentMessage

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CORE_TARGET_PER_S = 2_000.0
NAMES = ("Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal")
ACTIONS = (
    "found a small blue key under a stone",
    "heard a soft song coming from the old well",
    "gave the hungry fox half of the bread",
    "climbed the tall tree to look for the castle",
    "opened the red door very slowly",
    "saw a kind owl sitting on the fence",
    "picked up a shiny shell near the pond",
    "followed the little path into the woods",
)
PREMISES = (
    "A shy dragon who is afraid of the dark",
    "Two friends build a boat to cross the lake",
    "A lost puppy looks for its way home",
    "A little robot wants to learn how to paint",
)
STEP_RE = re.compile(r"step (\d+)\b")
"""Every added turn carries a unique ``step N`` so it can be found in the database."""

# how often each command kind is chosen in the full-path phase (weights)
MIX: tuple[tuple[str, int], ...] = (
    ("add", 60),
    ("continue", 12),
    ("show", 10),
    ("recap", 4),
    ("poem", 4),
    ("headline", 4),
    ("help", 6),
)


# -- recording ---------------------------------------------------------------------------


class Outcome:
    OK = "ok"
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"


def classify(posts: list[tuple[str, Reply]]) -> str:
    """The outcome of one handled event, from what was posted for it."""
    texts = [r.text for kind, r in posts if kind == "send" and r.ephemeral]
    for text in texts:
        if "something went wrong on my side" in text:
            return Outcome.INTERNAL_ERROR
    for text in texts:
        if "I'm busy writing for others" in text:
            return Outcome.BUSY
        if "took too long" in text:
            return Outcome.TIMEOUT
        if "Slow down" in text or "cooling down" in text:
            return Outcome.RATE_LIMITED
    return Outcome.REFUSED if texts else Outcome.OK


class Recorder:
    """An in-process Responder: records every post of one event and when the first came."""

    _ids = itertools.count(1)

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        self.posts: list[tuple[str, Reply]] = []
        self.first_post_at: float | None = None

    def _mark(self) -> None:
        if self.first_post_at is None:
            self.first_post_at = time.perf_counter()

    async def send(self, reply: Reply) -> SentMessage:
        self._mark()
        self.posts.append(("send", reply))
        return SentMessage(id=f"m{next(self._ids)}", channel_id=self.channel_id)

    async def edit(self, message: SentMessage, reply: Reply) -> None:
        self.posts.append(("edit", reply))

    @contextlib.asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        yield


@dataclass(slots=True)
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    first_post: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    accepted_steps: set[int] = field(default_factory=set)
    rejected_steps: set[int] = field(default_factory=set)
    tracebacks: int = 0
    raw_mentions: int = 0
    handled: int = 0
    refusal_samples: dict[str, str] = field(default_factory=dict)


_MENTION_RE = re.compile(r"@everyone|@here|<@[!&]?\d+>")


async def _handle(app: App, tally: Tally, kind: str, incoming: Incoming, step: int | None) -> None:
    recorder = Recorder(incoming.channel.channel_id)
    start = time.perf_counter()
    await app.router.handle(incoming, recorder)
    end = time.perf_counter()
    outcome = classify(recorder.posts)
    tally.handled += 1
    tally.latencies[kind].append(end - start)
    if recorder.first_post_at is not None:
        tally.first_post[kind].append(recorder.first_post_at - start)
    tally.outcomes[kind][outcome] += 1
    if outcome == Outcome.REFUSED and kind not in tally.refusal_samples:
        tally.refusal_samples[kind] = next(r.text for k, r in recorder.posts if r.ephemeral)[:160]
    for _, reply in recorder.posts:
        if "Traceback (most recent call last)" in reply.text:
            tally.tracebacks += 1
        if _MENTION_RE.search(reply.text):
            tally.raw_mentions += 1
    if step is not None:
        # A turn is accepted unless the answer refused the message itself; a busy or timed-out
        # auto-continuation after a stored turn does not un-accept it.
        if outcome in (Outcome.OK, Outcome.BUSY, Outcome.TIMEOUT):
            tally.accepted_steps.add(step)
        else:
            tally.rejected_steps.add(step)


# -- sampling ----------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(slots=True)
class Sample:
    t: float
    rss_mb: float
    queue_depth: int
    active: int
    in_flight: int


async def _sampler(app: App, samples: list[Sample], t0: float, every_s: float) -> None:
    while True:
        stats = app.generation.stats()
        samples.append(
            Sample(
                round(time.perf_counter() - t0, 2),
                round(rss_bytes() / 2**20, 1),
                stats.queue_depth,
                stats.active,
                app.router.in_flight,
            )
        )
        await asyncio.sleep(every_s)


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "n": len(values),
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def memory_growth(samples: list[Sample]) -> dict[str, float]:
    """Median RSS of the first and the last third of the run, and their difference."""
    if len(samples) < 6:
        return {}
    third = len(samples) // 3
    first = statistics.median(s.rss_mb for s in samples[:third])
    last = statistics.median(s.rss_mb for s in samples[-third:])
    return {
        "first_third_median_mb": first,
        "last_third_median_mb": last,
        "growth_mb": round(last - first, 1),
        "growth_ratio": round(last / first, 3),
        "peak_mb": max(s.rss_mb for s in samples),
    }


# -- the app ------------------------------------------------------------------------------


def load_settings_for(data_dir: Path, *, max_new_tokens: int, unlimited: bool = False) -> Any:
    """Bench settings: a fresh SQLite file, the bundled model and the default limits
    (``unlimited``: no rate limits, for measuring the core's own throughput)."""
    from bot.config import load_settings

    router: dict[str, Any] = {"stream_edit_interval_s": 1.0}
    if unlimited:
        router.update(user_rate=10**9, channel_rate=10**9)
    return load_settings(
        None,
        data_dir=data_dir,
        logging={"level": "WARNING"},
        generation={"torch_threads": max(1, (os.cpu_count() or 2) // 2)},
        router=router,
        plugins={
            "story": {
                "max_new_tokens": max_new_tokens,
                "recap_max_new_tokens": max_new_tokens,
                "generation_deadline_s": 60.0,
            },
            "poem": {"candidates": 2, "max_attempts": 1},
            "headline": {"max_new_tokens": 16, "candidates": 3},
        },
    )


class ErrorLog(logging.Handler):
    """Counts what the app logs at WARNING and above (by logger and exception type)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        cause = type(record.exc_info[1]).__name__ if record.exc_info and record.exc_info[1] else ""
        self.counts[f"{record.levelname} {record.name}{': ' + cause if cause else ''}"] += 1


def _incoming(ref: ChannelRef, author: Author, text: str, n: int) -> Incoming:
    return Incoming(channel=ref, author=author, text=text, message_id=f"load-{n}")


_messages = itertools.count(1)
_steps = itertools.count(1)


def _add_text(rng: random.Random, author: Author) -> tuple[str, int]:
    step = next(_steps)
    return f"{author.name} {rng.choice(ACTIONS)}, step {step}.", step


async def _start_story(
    app: App,
    tally: Tally,
    ref: ChannelRef,
    starter: Author,
    rng: random.Random,
) -> None:
    text = f"/story start {rng.choice(PREMISES)}"
    await _handle(app, tally, "start", _incoming(ref, starter, text, next(_messages)), None)


async def _set_auto_continue(app: App, guild_id: str, value: int) -> None:
    await app.store.settings.set("story", "auto_continue_every", value, guild_id=guild_id)


# -- phase 1: core overhead -------------------------------------------------------------------


CORE_KINDS = ("chat", "help", "add")
"""chat: a plain message where no game runs (adapter -> router floor); help: a command with a
long moderated answer, no storage; add: a turn stored in a story (router -> moderation ->
storage)."""


async def core_overhead(
    app: App, *, channels: int, messages: int, progress: Any, kinds: tuple[str, ...] = CORE_KINDS
) -> dict[str, Any]:
    """Messages/s through adapter -> router -> moderation -> storage, generation excluded
    (``kinds``: which of :data:`CORE_KINDS` to run; all by default)."""
    guild = "bench-core"
    await _set_auto_continue(app, guild, 0)
    rng = random.Random(7)
    tally = Tally()
    refs = [
        ChannelRef(channel_id=f"core-{i}", guild_id=guild, name=f"core-{i}")
        for i in range(channels)
    ]
    quiet = [
        ChannelRef(channel_id=f"quiet-{i}", guild_id=guild, name=f"quiet-{i}")
        for i in range(channels)
    ]
    authors = [Author(id=f"core-u{j}", name=NAMES[j % len(NAMES)]) for j in range(4)]
    for ref in refs:
        await _start_story(app, tally, ref, authors[0], rng)

    async def drive(i: int, kind: str, count: int) -> None:
        for k in range(count):
            author = authors[k % len(authors)]
            ref, step = refs[i], None
            if kind == "add":
                text, step = _add_text(rng, author)
            elif kind == "chat":
                ref, text = quiet[i], f"{author.name} says hello to everyone, message {k}."
            else:
                text = "/help"
            await _handle(app, tally, kind, _incoming(ref, author, text, next(_messages)), step)
            progress.update(1)

    per_channel = max(1, messages // channels)
    results: dict[str, Any] = {}
    for warm_up in (True, False):  # a short warm-up round, then the measured one, interleaved
        for kind in kinds:
            count = max(1, per_channel // 10) if warm_up else per_channel
            started = time.perf_counter()
            await asyncio.gather(*(drive(i, kind, count) for i in range(channels)))
            elapsed = time.perf_counter() - started
            if not warm_up:
                results[kind] = {
                    "messages": count * channels,
                    "seconds": round(elapsed, 3),
                    "per_s": round(count * channels / elapsed, 1),
                }
    stored = await _count_steps(app, refs)
    results["accepted"] = len(tally.accepted_steps)
    results["accepted_and_stored"] = len(tally.accepted_steps & stored)
    if "add" in results:
        results["add"]["outcomes"] = dict(tally.outcomes["add"])
        results["ratio_add_vs_target"] = round(results["add"]["per_s"] / CORE_TARGET_PER_S, 3)
    if "chat" in results:
        for kind in ("add", "help"):
            if kind in results:
                results[f"ratio_{kind}_vs_chat"] = round(
                    results[kind]["per_s"] / results["chat"]["per_s"], 3
                )
    results["latency"] = {k: percentiles(tally.latencies[k]) for k in kinds}
    results["tracebacks"] = tally.tracebacks
    return results


async def _count_steps(app: App, refs: list[ChannelRef]) -> set[int]:
    found: set[int] = set()
    for ref in refs:
        for story in await app.store.stories.list_for_channel(ref, limit=25):
            for turn in await app.store.turns.all(story.id):
                if turn.kind == "player":
                    found.update(int(m) for m in STEP_RE.findall(turn.text))
    return found


async def _count_turns(app: App, refs: list[ChannelRef]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for ref in refs:
        for story in await app.store.stories.list_for_channel(ref, limit=25):
            for turn in await app.store.turns.all(story.id):
                counts[str(turn.kind)] += 1
    return dict(counts)


# -- phase 2: the full path -------------------------------------------------------------------


def _command_text(kind: str, rng: random.Random, author: Author) -> tuple[str, int | None]:
    if kind == "add":
        return _add_text(rng, author)
    return {
        "continue": "/story continue",
        "show": "/story show",
        "recap": "/story recap",
        "poem": f"/poem {rng.choice(('haiku', 'couplet'))} {rng.choice(('the sea', 'a fox', 'rain'))}",
        "headline": "/headline",
        "help": "/help",
    }[kind], None


async def full_path(
    app: App, *, channels: int, players: int, seconds: float, think_s: float, progress: Any
) -> tuple[dict[str, Any], list[ChannelRef], Tally]:
    rng = random.Random(11)
    tally = Tally()
    guilds = max(1, channels // 10)
    refs = [
        ChannelRef(channel_id=f"load-{i}", guild_id=f"guild-{i % guilds}", name=f"load-{i}")
        for i in range(channels)
    ]
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    deadline = 0.0

    async def player(ref: ChannelRef, author: Author, seed: int) -> None:
        prng = random.Random(seed)
        await asyncio.sleep(prng.uniform(0, think_s))
        while time.perf_counter() < deadline:
            kind = prng.choices(kinds, weights)[0]
            text, step = _command_text(kind, prng, author)
            await _handle(app, tally, kind, _incoming(ref, author, text, next(_messages)), step)
            await asyncio.sleep(prng.expovariate(1.0 / think_s))

    starters = [Author(id=f"{ref.channel_id}-p0", name=NAMES[0]) for ref in refs]
    await asyncio.gather(
        *(_start_story(app, tally, ref, s, rng) for ref, s in zip(refs, starters, strict=True))
    )
    t0 = time.perf_counter()
    deadline = t0 + seconds
    tasks = [
        asyncio.create_task(
            player(
                ref,
                Author(id=f"{ref.channel_id}-p{j}", name=NAMES[j % len(NAMES)]),
                rng.randrange(1 << 30),
            )
        )
        for ref in refs
        for j in range(players)
    ]

    async def tick() -> None:
        shown = 0
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.5)
            now = min(int(time.perf_counter() - t0), int(seconds))
            progress.update(now - shown)
            shown = now

    await asyncio.gather(tick(), *tasks)
    elapsed = time.perf_counter() - t0
    handled = sum(sum(c.values()) for c in tally.outcomes.values()) - channels
    result = {
        "seconds": round(elapsed, 2),
        "events": handled,
        "events_per_s": round(handled / elapsed, 1),
        "latency": {k: percentiles(v) for k, v in sorted(tally.latencies.items())},
        "first_post": {k: percentiles(v) for k, v in sorted(tally.first_post.items())},
        "outcomes": {k: dict(v) for k, v in sorted(tally.outcomes.items())},
        "refusal_samples": tally.refusal_samples,
    }
    return result, refs, tally


# -- main ------------------------------------------------------------------------------------


async def _run(
    out: Path,
    channels: int,
    seconds: float,
    players: int,
    think_s: float,
    max_new_tokens: int,
    core_messages: int,
    core_only: bool = False,
) -> dict[str, Any]:
    from tqdm import tqdm

    from bot.app import App

    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    root.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="storyloom-load-") as tmp:
            core_settings = load_settings_for(
                Path(tmp) / "core", max_new_tokens=max_new_tokens, unlimited=True
            )
            app = await App.create(core_settings)
            try:
                n = min(channels, 50)
                per_channel = max(1, core_messages // n)
                total = len(CORE_KINDS) * n * (per_channel + max(1, per_channel // 10))
                with tqdm(total=total, desc="core overhead", unit="msg", mininterval=1.0) as bar:
                    core = await core_overhead(
                        app, channels=min(channels, 50), messages=core_messages, progress=bar
                    )
            finally:
                await app.close()
            if core_only:
                return {
                    "benchmark": "load",
                    "when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "platform": platform.platform(),
                    },
                    "config": {
                        "channels": min(channels, 50),
                        "core_messages": core_messages,
                        "core_only": True,
                    },
                    "core_overhead": core,
                    "logged": dict(errors.counts),
                }
            gc.collect()
            settings = load_settings_for(Path(tmp) / "full", max_new_tokens=max_new_tokens)
            app = await App.create(settings)
            samples: list[Sample] = []
            try:
                t0 = time.perf_counter()
                sampler = asyncio.create_task(_sampler(app, samples, t0, every_s=0.5))
                with tqdm(
                    total=int(seconds), desc=f"{channels} channels", unit="s", mininterval=1.0
                ) as bar:
                    full, refs, tally = await full_path(
                        app,
                        channels=channels,
                        players=players,
                        seconds=seconds,
                        think_s=think_s,
                        progress=bar,
                    )
                await app.router.drain(120.0)
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                stats = app.generation.stats()
                stored_live = await _count_steps(app, refs)
                turns_live = await _count_turns(app, refs)
            finally:
                await app.close()
            # Reopen on the same data: what was accepted must have been durable.
            app = await App.create(settings)
            try:
                stored_after = await _count_steps(app, refs)
                turns_after = await _count_turns(app, refs)
            finally:
                await app.close()
    finally:
        root.removeHandler(errors)

    accepted = tally.accepted_steps
    busy = sum(c[Outcome.BUSY] for c in tally.outcomes.values())
    timeouts = sum(c[Outcome.TIMEOUT] for c in tally.outcomes.values())
    internal = sum(c[Outcome.INTERNAL_ERROR] for c in tally.outcomes.values())
    results: dict[str, Any] = {
        "benchmark": "load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "config": {
            "channels": channels,
            "players_per_channel": players,
            "seconds": seconds,
            "think_s": think_s,
            "max_new_tokens": max_new_tokens,
            "queue_size": settings.generation.queue_size,
            "max_batch_size": settings.generation.max_batch_size,
        },
        "core_overhead": core,
        "full_path": full,
        "generation": {
            "completed": stats.completed,
            "rejected": stats.rejected,
            "timed_out": stats.timed_out,
            "cancelled": stats.cancelled,
            "failed": stats.failed,
            "tokens_per_s": round(stats.tokens_per_s, 1),
            "mean_batch_size": round(stats.mean_batch_size, 2),
            "ttft_median_s": stats.ttft_median_s,
        },
        "queue_depth": {
            "max": max((s.queue_depth for s in samples), default=0),
            "mean": round(statistics.fmean(s.queue_depth for s in samples), 2) if samples else 0,
            "limit": settings.generation.queue_size,
        },
        "memory": memory_growth(samples),
        "samples": [[s.t, s.rss_mb, s.queue_depth, s.active, s.in_flight] for s in samples],
        "samples_columns": ["t_s", "rss_mb", "queue_depth", "active", "router_in_flight"],
        "backpressure": {
            "busy_answers": busy,
            "timeout_answers": timeouts,
            "internal_errors": internal,
            "tracebacks_shown": tally.tracebacks,
            "raw_mentions_shown": tally.raw_mentions,
            "busy_share": round(busy / max(1, tally.handled), 4),
        },
        "logged": dict(errors.counts),
        "nothing_lost": {
            "accepted_turns": len(accepted),
            "rejected_turns": len(tally.rejected_steps),
            "stored_while_running": len(accepted & stored_live),
            "stored_after_restart": len(accepted & stored_after),
            "lost": sorted(accepted - stored_after)[:50],
            "rejected_but_stored": sorted(tally.rejected_steps & stored_after)[:50],
            "turns_by_kind_live": turns_live,
            "turns_by_kind_after_restart": turns_after,
            "ratio_stored_to_accepted": round(
                len(accepted & stored_after) / max(1, len(accepted)), 4
            ),
        },
    }
    return results


def _write(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _print(results: dict[str, Any], out: Path) -> None:
    core = results["core_overhead"]
    print(
        f"\ncore overhead (no generation): stored turn {core['add']['per_s']:,.0f} msg/s, /help "
        f"{core['help']['per_s']:,.0f} msg/s, plain chat {core['chat']['per_s']:,.0f} msg/s "
        f"(turn/chat {core['ratio_add_vs_chat']:.2f}x, help/chat {core['ratio_help_vs_chat']:.2f}x; "
        f"turn vs the 2,000/s design target {core['ratio_add_vs_target']:.3f}x); "
        f"{core['accepted_and_stored']}/{core['accepted']} accepted turns stored"
    )
    if "full_path" not in results:
        print(f"results: {out}")
        return
    full = results["full_path"]
    lost = results["nothing_lost"]
    mem = results["memory"]
    bp = results["backpressure"]
    print(
        f"full path: {full['events']:,} events in {full['seconds']:.0f}s = {full['events_per_s']:.1f}/s "
        f"over {results['config']['channels']} channels"
    )
    for kind, p in full["latency"].items():
        if p.get("n"):
            print(
                f"  {kind:9s} n={p['n']:6d}  p50 {p['p50_ms']:8.1f} ms  p95 {p['p95_ms']:8.1f} ms  "
                f"p99 {p['p99_ms']:8.1f} ms  {full['outcomes'].get(kind, {})}"
            )
    print(
        f"queue depth max {results['queue_depth']['max']} (limit {results['queue_depth']['limit']}), "
        f"busy answers {bp['busy_answers']}, timeouts {bp['timeout_answers']}, internal errors "
        f"{bp['internal_errors']}, tracebacks {bp['tracebacks_shown']}, raw mentions {bp['raw_mentions_shown']}"
    )
    if mem:
        print(
            f"memory: {mem['first_third_median_mb']:.0f} MB -> {mem['last_third_median_mb']:.0f} MB "
            f"(growth {mem['growth_mb']:+.1f} MB, {mem['growth_ratio']:.3f}x), peak {mem['peak_mb']:.0f} MB"
        )
    print(
        f"nothing lost: {lost['stored_after_restart']}/{lost['accepted_turns']} accepted turns stored after "
        f"restart (ratio {lost['ratio_stored_to_accepted']}); rejected but stored: {len(lost['rejected_but_stored'])}"
    )
    if results["logged"]:
        print(f"logged warnings/errors: {results['logged']}")
    print(f"results: {out}")


def main(
    out: Path = Path("bench/results/load.json"),
    channels: int = 50,
    seconds: float = 30.0,
    *,
    players: int = 3,
    think_s: float = 2.0,
    max_new_tokens: int = 24,
    core_messages: int = 1_000,
    core_only: bool = False,
) -> dict[str, Any]:
    """Run both phases, print the figures and write them to ``out``; returns the results."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = asyncio.run(
        _run(out, channels, seconds, players, think_s, max_new_tokens, core_messages, core_only)
    )
    _write(out, results)
    _print(results, out)
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/load.json"))
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--players", type=int, default=3)
    parser.add_argument("--think-s", type=float, default=2.0)
    parser.add_argument(
        "--core-messages",
        type=int,
        default=1_000,
        help="messages per kind in the core-overhead phase",
    )
    parser.add_argument(
        "--core-only", action="store_true", help="run only the core-overhead phase (no generation)"
    )
    args = parser.parse_args()
    main(
        args.out,
        args.channels,
        args.seconds,
        players=args.players,
        think_s=args.think_s,
        core_messages=args.core_messages,
        core_only=args.core_only,
    )
