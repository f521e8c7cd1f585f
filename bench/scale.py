"""Scale out: bot shards as separate processes on one PostgreSQL database and one inference server.

Each shard is a real OS process (``python -m bench.scale shard CONFIG``): the whole app (router,
moderation, story plugin, storage) driven through the console adapter's JSON-lines mode, with
``generation.backend = "openai"`` pointed at ONE inference server (``storyloom serve-model`` by
default, or llama.cpp's server with ``--server llama-cpp``) and ``storage.url`` at ONE
PostgreSQL database (a fresh schema per configuration). Channels are spread over the shards the
way Discord spreads guilds (each channel always goes to the same shard).

Every channel plays the same game: ``/story start``, then rounds of two player turns (each
carrying a unique ``step N``) and ``/story continue`` (the storyteller writes through the
inference server), each command sent once the previous one was answered. The same load runs on
1, 2 and 4 processes side by side; reported per configuration: commands/s and stored turns/s,
latency percentiles per command kind, and the ratios to one process.

Each shard first plays one short warm-up game (not measured), so first-use costs that a
long-running shard paid long ago (word tables, caches, connections) stay out of the figures.

Kill check (configurations with 2+ shards): once a third of the commands were answered, shard 0
gets SIGKILL; the other shards must keep answering while it is down (the driver waits for each of
them to answer at least one more command, and counts what they answered), then shard 0 is started
again and its channels go on with their games. Commands in flight at the kill are lost like
messages to a crashed bot (never answered, never retried).

Nothing lost: afterwards every answered player turn is in the database exactly once (found by its
``step N``), every answered ``/story continue`` added one storyteller turn, and commands lost in
flight left at most one turn each.

Run: ``python -m bench scale --out bench/results/scale.json`` (``--help`` for sizes); PostgreSQL
from ``STORYLOOM_BENCH_PG_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.load import ACTIONS, PREMISES, STEP_RE, Outcome, classify, percentiles
from bot.types import Reply
from plugins.story.render import NOTHING_WRITTEN

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get(
    "STORYLOOM_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SERVERS = ("storyloom", "llama-cpp")
READY_TIMEOUT_S = 180.0
WARM_UP = 100_000
"""Warm-up channels are numbered from here (outside the measured ``ch0``..``chN``)."""


@dataclass(frozen=True, slots=True)
class Load:
    """What every channel does, and how big the run is."""

    channels: int = 16
    rounds: int = 3
    max_new_tokens: int = 24
    seed: int = 7


@dataclass(slots=True)
class Answer:
    """One command as the driver saw it."""

    kind: str
    shard: int
    latency_s: float | None  # None: lost in flight (its shard was killed)
    outcome: str
    step: int | None = None


@dataclass(slots=True)
class Tally:
    answers: list[Answer] = field(default_factory=list)

    def done(self) -> int:
        return sum(a.latency_s is not None for a in self.answers)


class ShardDied(Exception):
    """The shard process ended before answering."""


# -- the shard process ---------------------------------------------------------------------------


async def shard_main(config: Path) -> None:
    """One bot process: the app on ``config``, JSON lines in on stdin, records out on stdout."""
    from bot.adapters.console import run_jsonl, stdin_lines
    from bot.app import App
    from bot.config import load_settings

    def emit(record: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    app = await App.create(load_settings(config))
    try:
        emit({"kind": "ready", "pid": os.getpid()})
        await run_jsonl(app, stdin_lines(), emit, done_records=True)
    finally:
        await asyncio.shield(app.close())


# -- the driver's view of a shard ----------------------------------------------------------------


class Shard:
    """A shard process: send a command, get the records that answered it once it is done."""

    def __init__(self, index: int, config: Path, log_dir: Path) -> None:
        self.index = index
        self.config = config
        self.log_dir = log_dir
        self.up = asyncio.Event()
        self.incarnation = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[asyncio.Future[list[dict[str, Any]]], list[Any]]] = {}
        self._lines = 0
        self._ready: asyncio.Future[None] | None = None

    async def start(self) -> None:
        self.incarnation += 1
        self._lines = 0
        stderr = (self.log_dir / f"shard{self.index}-{self.incarnation}.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.scale",
            "shard",
            str(self.config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            env=_child_env(),
            limit=2**22,
        )
        stderr.close()
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(self._process))
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await self._ready
        except TimeoutError as exc:
            raise RuntimeError(f"shard {self.index} did not start; see {self.log_dir}") from exc
        self.up.set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def send(self, line: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one command; the records that answered it (ShardDied if the process ended)."""
        await self.up.wait()
        assert self._process is not None and self._process.stdin is not None
        self._lines += 1
        key = f"in-{self._lines}"
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending[key] = (future, [])
        self._process.stdin.write((json.dumps(line) + "\n").encode())
        await self._process.stdin.drain()
        return await future

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while raw := await process.stdout.readline():
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if record.get("kind") == "ready":
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                continue
            entry = self._pending.get(record.get("reply_to") or "")
            if entry is None:
                continue
            if record["kind"] == "done":
                del self._pending[record["reply_to"]]
                if not entry[0].done():
                    entry[0].set_result(entry[1])
            else:
                entry[1].append(record)
        self._fail_pending()

    def _fail_pending(self) -> None:
        self.up.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ShardDied(f"shard {self.index} exited while starting"))
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ShardDied(f"shard {self.index} died"))
        self._pending.clear()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed, like a crashed machine."""
        assert self._process is not None
        self.up.clear()
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            async with asyncio.timeout(60):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


# -- infrastructure: the inference server and the database ------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bundled_model() -> str:
    from bot.models import bundled_model_path

    return str(bundled_model_path())


def gguf_script() -> ModuleType:
    """scripts/export_gguf.py as a module (scripts/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "export_gguf", ROOT / "scripts" / "export_gguf.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_gguf(out: Path) -> Path:
    """The bundled model as GGUF (scripts/export_gguf.py), for llama.cpp's server."""
    return Path(gguf_script().export(Path(bundled_model()), out))


@dataclass(frozen=True, slots=True)
class Server:
    """A running inference server: its ``/v1`` base URL and its process id."""

    url: str
    pid: int


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0.0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def inference_server(kind: str, work: Path, *, batch: int = 16) -> AsyncIterator[Server]:
    """Start one inference server process; yields its URL and pid."""
    import httpx

    port = _free_port()
    if kind == "storyloom":
        config = work / "server.toml"
        config.write_text(
            "[generation]\n"
            f"max_batch_size = {batch}\nqueue_size = 4096\nper_channel_limit = {batch}\n"
            'torch_threads = 1\n[logging]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "bot.cli", "serve-model", "--config", str(config)]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        health = f"http://127.0.0.1:{port}/health"
    elif kind == "llama-cpp":
        model = export_gguf(work / "model.gguf")
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512"]
        command += ["--n_threads", "1", "--model_alias", "storyloom"]
        # its default lets each new request cut off the one being written
        command += ["--interrupt_requests", "False"]
        health = f"http://127.0.0.1:{port}/v1/models"
    else:
        raise ValueError(f"unknown server {kind!r}; choose from {', '.join(SERVERS)}")
    log = (work / f"server-{kind}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=log, stderr=log, cwd=ROOT, env=_child_env()
    )
    log.close()
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(READY_TIMEOUT_S):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the {kind} server exited; see {work}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(health, timeout=2)).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield Server(f"http://127.0.0.1:{port}/v1", process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def fresh_schema(pg_url: str) -> AsyncIterator[str]:
    """A new PostgreSQL schema, migrated once (shards then find it at head); dropped after."""
    import asyncpg

    from storage.settings import StorageSettings
    from storage.store import open_store

    schema = f"storyloom_scale_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        store = await open_store(StorageSettings(url=pg_url, pg_schema=schema))
        await store.close()
        yield schema
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def shard_config(
    path: Path, *, pg_url: str, schema: str, base_url: str, load: Load, data_dir: Path
) -> Path:
    """The TOML settings every shard of one configuration shares."""
    lines = [
        f"data_dir = {json.dumps(str(data_dir))}",
        "[generation]",
        'backend = "openai"',
        f"base_url = {json.dumps(base_url)}",
        f"model = {json.dumps(bundled_model())}",  # the local tokenizer: counts, logit_bias
        'remote_model = "storyloom"',
        "remote_context_tokens = 512",
        "max_batch_size = 64",
        "queue_size = 4096",
        "default_timeout_s = 300.0",
        "read_timeout_s = 300.0",
        "[storage]",
        f"url = {json.dumps(pg_url)}",
        f"pg_schema = {json.dumps(schema)}",
        "[router]",
        "user_rate = 1000000",
        "channel_rate = 1000000",
        "stream_edit_interval_s = 1.0",
        "[logging]",
        'level = "WARNING"',
        "[plugins.story]",
        "best_of = 1",
        "auto_continue_every = 0",
        f"max_new_tokens = {load.max_new_tokens}",
        f"recap_max_new_tokens = {load.max_new_tokens}",
        "generation_deadline_s = 300.0",
        "tick_interval_s = 0.0",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- one configuration ---------------------------------------------------------------------------


def shard_of(channel: str, shards: int) -> int:
    """The shard that serves ``channel`` (stable, like Discord's guild sharding)."""
    return int(channel.removeprefix("ch")) % shards


def _answer(records: list[dict[str, Any]]) -> str:
    """ok, busy, refused, ... (bench.load's classes), or nothing_written when the storyteller
    posted its "nothing useful" message (it stores no turn then)."""
    posts = [
        ("send", Reply(text=r["text"], ephemeral=r["kind"] in ("notice", "error")))
        for r in records
        if r["kind"] in ("message", "notice", "error")
    ]
    final = {r["id"]: r["text"] for r in records if r["kind"] in ("message", "edit")}
    if NOTHING_WRITTEN in final.values():
        return "nothing_written"
    return classify(posts)


@dataclass(slots=True)
class KillReport:
    killed_shard: int
    pid_killed: int | None
    lost_in_flight: int
    down_s: float
    answered_by_others_while_down: int
    restart_s: float
    answered_by_restarted_after: int = 0


class Run:
    """One configuration: ``shards`` processes, the channels' games, an optional kill."""

    def __init__(self, shards: list[Shard], load: Load, *, kill: bool) -> None:
        self.shards = shards
        self.load = load
        self.kill = kill and len(shards) > 1
        self.tally = Tally()
        self._steps = iter(range(1, 10**9))
        self._progress = asyncio.Event()
        self.kill_report: KillReport | None = None
        self._restarted_at: float | None = None
        self._finished: Counter[int] = Counter()  # games over, per shard
        self._games: Counter[int] = Counter(
            shard_of(f"ch{i}", len(shards)) for i in range(load.channels)
        )

    @property
    def total_commands(self) -> int:
        return self.load.channels * (1 + 3 * self.load.rounds)

    async def command(self, channel: str, user: str, text: str, kind: str) -> None:
        index = shard_of(channel, len(self.shards))
        shard = self.shards[index]
        step = next(self._steps) if kind == "add" else None
        if step is not None:
            text = f"{text}, step {step}."
        await shard.up.wait()  # a command for a killed shard waits for its restart
        started = time.perf_counter()
        try:
            records = await shard.send({"user": user, "channel": channel, "text": text})
        except ShardDied:
            self.tally.answers.append(Answer(kind, index, None, "lost_in_flight", step))
            return
        latency = time.perf_counter() - started
        self.tally.answers.append(Answer(kind, index, latency, _answer(records), step))
        if self._restarted_at is not None and index == 0 and self.kill_report is not None:
            self.kill_report.answered_by_restarted_after += 1
        self._progress.set()

    async def play(self, channel: str) -> None:
        rng = random.Random(f"{self.load.seed}-{channel}")
        await self.command(channel, "ann", f"/story start {rng.choice(PREMISES)}", "start")
        for _ in range(self.load.rounds):
            for user in ("ann", "bo"):
                await self.command(channel, user, f"{user.title()} {rng.choice(ACTIONS)}", "add")
            await self.command(channel, "ann", "/story continue", "continue")
        self._finished[shard_of(channel, len(self.shards))] += 1
        self._progress.set()

    async def warm_up(self) -> None:
        """One short game per shard before anything is measured: each process pays its
        first-use costs (word lists, tokenizer tables, connections, caches) outside the figures
        (a long-running shard paid them long ago)."""
        count = len(self.shards)

        async def game(index: int) -> None:
            channel = f"ch{WARM_UP + (index - WARM_UP) % count}"
            for text in ("/story start A warm-up tale", "Ann waves.", "/story continue"):
                await self.shards[index].send({"user": "ann", "channel": channel, "text": text})

        await asyncio.gather(*(game(i) for i in range(count)))

    async def run(self) -> float:
        started = time.perf_counter()
        games = [asyncio.create_task(self.play(f"ch{i}")) for i in range(self.load.channels)]
        killer = asyncio.create_task(self._kill_and_restart()) if self.kill else None
        await asyncio.gather(*games)
        elapsed = time.perf_counter() - started
        if killer is not None:
            await killer
        return elapsed

    async def _wait_for(self, condition: Any) -> None:
        while not condition():
            self._progress.clear()
            await self._progress.wait()

    async def _kill_and_restart(self) -> None:
        victim = self.shards[0]
        await self._wait_for(lambda: self.tally.done() >= self.total_commands // 3)
        before = Counter(a.shard for a in self.tally.answers if a.latency_s is not None)
        lost_before = sum(a.latency_s is None for a in self.tally.answers)
        pid = victim.pid
        killed_at = time.perf_counter()
        await victim.kill()

        def others_served() -> bool:  # each answered again (or has no game left to play)
            now = Counter(a.shard for a in self.tally.answers if a.latency_s is not None)
            return all(
                now[s.index] > before[s.index] or self._finished[s.index] == self._games[s.index]
                for s in self.shards[1:]
            )

        await self._wait_for(others_served)  # the other shards keep serving
        restart_started = time.perf_counter()
        await victim.start()
        self._restarted_at = time.perf_counter()
        after = Counter(a.shard for a in self.tally.answers if a.latency_s is not None)
        self.kill_report = KillReport(
            killed_shard=0,
            pid_killed=pid,
            lost_in_flight=sum(a.latency_s is None for a in self.tally.answers) - lost_before,
            down_s=round(self._restarted_at - killed_at, 2),
            answered_by_others_while_down=sum(
                after[s.index] - before[s.index] for s in self.shards[1:]
            ),
            restart_s=round(self._restarted_at - restart_started, 2),
        )


async def check_nothing_lost(pg_url: str, schema: str, run: Run) -> dict[str, Any]:
    """Compare what the shards answered with what PostgreSQL holds (a fresh connection)."""
    from bot.types import ChannelRef
    from storage.settings import StorageSettings
    from storage.store import open_store

    store = await open_store(StorageSettings(url=pg_url, pg_schema=schema))
    steps: Counter[int] = Counter()
    bot_turns: Counter[str] = Counter()
    try:
        for i in range(run.load.channels):
            ref = ChannelRef(channel_id=f"ch{i}", guild_id="console", name=f"ch{i}")
            for story in await store.stories.list_for_channel(ref, limit=25):
                for turn in await store.turns.all(story.id):
                    if str(turn.kind) == "player":
                        steps.update(int(m) for m in STEP_RE.findall(turn.text))
                    else:
                        bot_turns[f"ch{i}"] += 1
    finally:
        await store.close()
    answered = [a for a in run.tally.answers if a.kind == "add" and a.outcome == Outcome.OK]
    lost = [a for a in run.tally.answers if a.kind == "add" and a.latency_s is None]
    missing = [a.step for a in answered if steps[a.step or 0] == 0]
    doubled = [s for s, n in steps.items() if n > 1]
    continues_ok = sum(a.kind == "continue" and a.outcome == Outcome.OK for a in run.tally.answers)
    continues_lost = sum(a.kind == "continue" and a.latency_s is None for a in run.tally.answers)
    stored_bot = sum(bot_turns.values())
    return {
        "player_turns_answered": len(answered),
        "player_turns_stored": sum(steps.values()),
        "answered_but_missing": len(missing),
        "stored_twice": len(doubled),
        "lost_in_flight_turns_stored": sum(steps[a.step or 0] for a in lost),
        "lost_in_flight_turns": len(lost),
        "continues_answered": continues_ok,
        "storyteller_turns_stored": stored_bot,
        "continues_lost_in_flight": continues_lost,
        "nothing_lost": not missing
        and not doubled
        and continues_ok <= stored_bot <= continues_ok + continues_lost,
    }


async def run_configuration(
    shards: int,
    load: Load,
    *,
    server: Server,
    pg_url: str,
    work: Path,
    kill: bool,
) -> dict[str, Any]:
    """Run the load on ``shards`` processes against the shared server; the results."""
    async with fresh_schema(pg_url) as schema:
        directory = work / f"shards-{shards}-{schema}"
        directory.mkdir(parents=True)
        config = shard_config(
            directory / "bot.toml",
            pg_url=pg_url,
            schema=schema,
            base_url=server.url,
            load=load,
            data_dir=directory / "data",
        )
        processes = [Shard(i, config, directory) for i in range(shards)]
        try:
            await asyncio.gather(*(p.start() for p in processes))
            run = Run(processes, load, kill=kill)
            await run.warm_up()
            shard_cpu = sum(cpu_seconds(p.pid) for p in processes)
            server_cpu = cpu_seconds(server.pid)
            load_average = os.getloadavg()[0]
            elapsed = await run.run()
            server_cpu = cpu_seconds(server.pid) - server_cpu
            shard_cpu = sum(cpu_seconds(p.pid) for p in processes) - shard_cpu
        finally:
            await asyncio.gather(*(p.stop() for p in processes), return_exceptions=True)
        stored = await check_nothing_lost(pg_url, schema, run)
    answers = run.tally.answers
    outcomes = Counter(a.outcome for a in answers)
    done = [a for a in answers if a.latency_s is not None]
    turns = stored["player_turns_stored"] + stored["storyteller_turns_stored"]
    return {
        "shards": shards,
        "commands": len(answers),
        "outcomes": dict(outcomes),
        "seconds": round(elapsed, 2),
        "commands_per_s": round(len(done) / elapsed, 2),
        "turns_stored_per_s": round(turns / elapsed, 2),
        "latency": {
            kind: percentiles([a.latency_s for a in done if a.kind == kind and a.latency_s])
            for kind in ("start", "add", "continue")
        },
        "per_shard_commands": dict(sorted(Counter(a.shard for a in done).items())),
        # CPU the bots and the server used for the load (a killed shard's own time is lost)
        "cpu_s": {"shards": round(shard_cpu, 2), "server": round(server_cpu, 2)},
        "shard_cpu_ms_per_command": round(1000 * shard_cpu / max(1, len(done)), 1),
        "load_average_at_start": round(load_average, 2),
        "kill": None if run.kill_report is None else vars_of(run.kill_report),
        "storage": stored,
    }


def vars_of(report: KillReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in report.__dataclass_fields__}


async def bench(
    shard_counts: Sequence[int],
    load: Load,
    *,
    server: str,
    pg_url: str,
    kill: bool,
) -> dict[str, Any]:
    """Every configuration, one after another, against one inference server."""
    with _work_dir() as work:
        async with inference_server(server, work) as running:
            runs, kills = [], []
            for count in shard_counts:
                print(f"  {count} shard(s): {load.channels} channels x {load.rounds} rounds ...")
                runs.append(
                    await run_configuration(
                        count, load, server=running, pg_url=pg_url, work=work, kill=False
                    )
                )
            for count in shard_counts if kill else ():
                if count > 1:
                    print(f"  {count} shard(s), shard 0 killed mid-game and restarted ...")
                    kills.append(
                        await run_configuration(
                            count, load, server=running, pg_url=pg_url, work=work, kill=True
                        )
                    )
    base = runs[0]
    for result in runs:
        result["throughput_ratio_to_first"] = round(
            result["commands_per_s"] / base["commands_per_s"], 2
        )  # the kill runs' throughput includes the time shard 0 was down: not compared
        result["p50_add_ratio_to_first"] = _ratio(result, base, "add")
        result["p50_continue_ratio_to_first"] = _ratio(result, base, "continue")
    return {
        "benchmark": "scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "server": server,
        "load": {
            "channels": load.channels,
            "rounds": load.rounds,
            "commands_per_channel": 1 + 3 * load.rounds,
            "max_new_tokens": load.max_new_tokens,
        },
        "runs": runs,
        "kill_runs": kills,
    }


def _ratio(result: dict[str, Any], base: dict[str, Any], kind: str) -> float | None:
    mine, first = result["latency"][kind].get("p50_ms"), base["latency"][kind].get("p50_ms")
    return round(mine / first, 2) if mine and first else None


@contextlib.contextmanager
def _work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="storyloom-scale-") as directory:
        yield Path(directory)


def _print(results: dict[str, Any], out: Path) -> None:
    print(f"\nscale: {results['load']['channels']} channels, server {results['server']}")
    print(f"{'shards':>6} {'cmd/s':>8} {'x1':>6} {'add p50/p95 ms':>16} {'cont p50/p95 ms':>17}")
    for r in results["runs"] + results["kill_runs"]:
        add, cont = r["latency"]["add"], r["latency"]["continue"]
        print(
            f"{r['shards']:>6} {r['commands_per_s']:>8} {r.get('throughput_ratio_to_first', '-'):>6} "
            f"{add.get('p50_ms', '-'):>7}/{add.get('p95_ms', '-'):<8} "
            f"{cont.get('p50_ms', '-'):>7}/{cont.get('p95_ms', '-'):<9}"
            f" nothing lost: {r['storage']['nothing_lost']}"
        )
        if r["kill"]:
            k = r["kill"]
            print(
                f"       kill: shard 0 down {k['down_s']} s, others answered "
                f"{k['answered_by_others_while_down']}, lost in flight {k['lost_in_flight']}, "
                f"restart {k['restart_s']} s"
            )
    print(f"written to {out}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["shard"]:
        asyncio.run(shard_main(Path(args[1])))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench scale",
        description="Bot shards as separate processes on one PostgreSQL database and one "
        "inference server, against the same load on one process.",
    )
    parser.add_argument("--shards", default="1,2,4", help="shard counts, the first is the base")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 2 turns + continue")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--server", choices=SERVERS, default="storyloom")
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL check")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    options = parser.parse_args(args)
    counts = [int(n) for n in options.shards.split(",") if n.strip()]
    load = Load(options.channels, options.rounds, options.max_new_tokens)
    results = asyncio.run(
        bench(counts, load, server=options.server, pg_url=options.pg_url, kill=not options.no_kill)
    )
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print(results, options.out)
    every = results["runs"] + results["kill_runs"]
    return 0 if all(r["storage"]["nothing_lost"] for r in every) else 1


if __name__ == "__main__":
    raise SystemExit(main())
