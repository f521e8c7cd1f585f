"""Benchmark: one shared generation service vs. naive per-request ``model.generate``.

``python -m bench generation --out FILE`` (or ``python -m bench.generation --out FILE``) measures,
side by side in one run, for a GPT-2-small-sized model (GPT2Config, random weights, the bundled
tokenizer's vocabulary) and the bundled tiny model:

- A (baseline): one ``model.generate`` per request, sequentially (what naive bots do);
- B (service): the requests sent concurrently through :class:`GenerationService` (streaming on,
  every request with its own seed), at concurrency 1, 4, 16 and 32;
- C (static batch): one bare ``model.generate`` over 16 left-padded requests at once (the limit
  for batching without a service around it);
- time to first streamed text when requests arrive one every 100 ms.

All use the same prompts, the same sampling (temperature 0.8, top-k 50, top-p 0.95, repetition
penalty 1.1) and the same number of new tokens (EOS ignored). A, B and C are interleaved round
by round; ``speedup`` = service / baseline and ``efficiency`` = service / static batch of 16 are
the medians of the per-round ratios, at the row's concurrency. The machine's load average is
recorded before and after; one torch thread everywhere. ``--quick``: fewer tokens and rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bot.generation import GenerationRequest, GenerationSettings, SamplingParams
from bot.generation.service import build_generation_service

PROMPTS = [
    "The knight sharpened his sword by the fire while",
    "A dragon slept under the mountain, dreaming of",
    "The wizard's tower glowed blue in the night above the silent forest, and",
    "Rain drummed on the roof of the old inn where",
    "She found a map in a bottle on the shore. It showed",
    "Once upon a time, in a village at the edge of the sea,",
    "The thief crept along the rooftops of the sleeping city until",
    "Deep in the library, a book began to whisper",
]
SAMPLING: dict[str, Any] = {
    "temperature": 0.8,
    "top_k": 50,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
}
CONCURRENCY = (1, 4, 16, 32)
STATIC_BATCH = 16
STAGGER_S = 0.1


def _prompts(n: int) -> list[str]:
    return [f"{PROMPTS[i % len(PROMPTS)]}" + (" " * (i // len(PROMPTS))) for i in range(n)]


def _params(new_tokens: int, seed: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=new_tokens, seed=seed, ignore_eos=True, **SAMPLING)


def _load(path: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    return model, tokenizer


def _generate(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int) -> int:
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(
            **batch,
            do_sample=True,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **SAMPLING,
        )
    return int((out.shape[1] - batch.input_ids.shape[1]) * out.shape[0])


@dataclass(frozen=True, slots=True)
class Rate:
    """Tokens made, over wall-clock seconds and over this process's CPU seconds (all threads)."""

    per_s: float
    per_cpu_s: float


class _Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rate(self, tokens: int) -> Rate:
        wall = time.perf_counter() - self.wall
        cpu = max(time.process_time() - self.cpu, 1e-9)
        return Rate(tokens / wall, tokens / cpu)


def measure_baseline(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int) -> Rate:
    """A: one ``model.generate`` per request, one after another."""
    clock = _Clock()
    return clock.rate(sum(_generate(model, tokenizer, [p], new_tokens) for p in prompts))


def measure_static(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int) -> Rate:
    """C: one bare left-padded ``model.generate`` over all prompts."""
    clock = _Clock()
    return clock.rate(_generate(model, tokenizer, prompts, new_tokens))


async def measure_service(service: Any, prompts: list[str], new_tokens: int) -> Rate:
    """B: the service with all prompts sent at once, streamed."""

    async def one(i: int, prompt: str) -> int:
        request = GenerationRequest(prompt, _params(new_tokens, seed=i), channel_key=f"ch{i}")
        last = None
        async for chunk in service.stream(request):
            last = chunk
        assert last is not None and last.completion_tokens is not None
        return last.completion_tokens

    clock = _Clock()
    counts = await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return clock.rate(sum(counts))


async def measure_ttft(service: Any, prompts: list[str], new_tokens: int) -> float:
    """Median seconds from submission to the first streamed text, one request every 100 ms."""

    async def one(i: int, prompt: str) -> float:
        await asyncio.sleep(i * STAGGER_S)
        request = GenerationRequest(prompt, _params(new_tokens, seed=i), channel_key=f"ch{i}")
        started = time.perf_counter()
        first: float | None = None
        async for chunk in service.stream(request):
            if first is None and chunk.text:
                first = time.perf_counter() - started
        return first if first is not None else time.perf_counter() - started

    return statistics.median(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))


async def bench_model(
    label: str,
    path: str,
    *,
    new_tokens: int,
    baseline_requests: int,
    rounds: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    """All measurements for one model, interleaved round by round so load drift hits all alike.

    Each ratio is the median over rounds of the ratio measured within the round.
    """
    model, tokenizer = _load(path)
    params = sum(p.numel() for p in model.parameters())
    task = progress.add_task(label, total=rounds * (2 + len(CONCURRENCY)) + 2)
    _generate(model, tokenizer, _prompts(2), 4)  # warm up
    settings = GenerationSettings(
        model=path,
        device="cpu",
        max_batch_size=STATIC_BATCH,
        queue_size=64,
        per_channel_limit=4,
        torch_threads=1,
        default_timeout_s=None,
    )
    baseline: list[Rate] = []
    static: list[Rate] = []
    service_rates: dict[int, list[Rate]] = {c: [] for c in CONCURRENCY}
    async with build_generation_service(settings) as service:
        await measure_service(service, _prompts(2), 4)  # warm up
        progress.advance(task)
        for _ in range(rounds):
            baseline.append(
                measure_baseline(model, tokenizer, _prompts(baseline_requests), new_tokens)
            )
            progress.advance(task)
            static.append(measure_static(model, tokenizer, _prompts(STATIC_BATCH), new_tokens))
            progress.advance(task)
            for concurrency in CONCURRENCY:
                if concurrency == 1:  # one request at a time, two in sequence
                    pair = [await measure_service(service, [p], new_tokens) for p in _prompts(2)]
                    rate = Rate(
                        statistics.mean(r.per_s for r in pair),
                        statistics.mean(r.per_cpu_s for r in pair),
                    )
                else:
                    rate = await measure_service(service, _prompts(concurrency), new_tokens)
                service_rates[concurrency].append(rate)
                progress.advance(task)
        ttft = await measure_ttft(service, _prompts(16), new_tokens)
        progress.advance(task)
    rows: list[dict[str, Any]] = []
    for concurrency, rates in service_rates.items():
        rows.append(
            {
                "model": label,
                "path": path,
                "parameters": params,
                "vocab_size": int(model.config.vocab_size),
                "concurrency": concurrency,
                "new_tokens": new_tokens,
                "rounds": rounds,
                "baseline_tokens_per_s": round(statistics.median(r.per_s for r in baseline), 2),
                "static_batch_tokens_per_s": round(statistics.median(r.per_s for r in static), 2),
                "service_tokens_per_s": round(statistics.median(r.per_s for r in rates), 2),
                "speedup": round(_median_ratio(rates, baseline, cpu=False), 3),
                "efficiency": round(_median_ratio(rates, static, cpu=False), 3),
                "ttft_median_s": round(ttft, 4),
                # the same ratios per CPU second of this process: robust on a busy machine
                "cpu_speedup": round(_median_ratio(rates, baseline, cpu=True), 3),
                "cpu_efficiency": round(_median_ratio(rates, static, cpu=True), 3),
            }
        )
    del model
    return rows


def _median_ratio(numerators: list[Rate], denominators: list[Rate], *, cpu: bool) -> float:
    pairs = zip(numerators, denominators, strict=True)
    if cpu:
        return statistics.median(n.per_cpu_s / d.per_cpu_s for n, d in pairs)
    return statistics.median(n.per_s / d.per_s for n, d in pairs)


def _gpt2_small(directory: Path, tokenizer_path: str) -> str:
    """A GPT-2-small-sized model (12 layers, 768 wide) with random weights and the bundled vocab."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=768,
        n_layer=12,
        n_head=12,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def _machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load]}


def main(out: Path, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print a table, write JSON to ``out``; returns the results."""
    from bot.models import bundled_model_path

    torch.set_num_threads(1)
    new_tokens = 24 if quick else 48
    baseline_requests = 4 if quick else 8
    rounds = 2 if quick else 3
    before = _machine()
    console = Console(width=120)
    if before["load_average"][0] > 0.5 * (before["cpus"] or 1):
        console.print(
            f"[yellow]machine busy: load average {before['load_average']} on "
            f"{before['cpus']} CPUs; ratios are still side by side[/]"
        )
    bundled = str(bundled_model_path())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        models = [("gpt2-small-random", _gpt2_small(Path(tmp), bundled)), ("bundled-tiny", bundled)]
        for label, path in models:
            rows += asyncio.run(
                bench_model(
                    label,
                    path,
                    new_tokens=new_tokens,
                    baseline_requests=baseline_requests,
                    rounds=rounds,
                    progress=progress,
                )
            )
    after = _machine()
    headline = [r for r in rows if r["concurrency"] == STATIC_BATCH]
    results = {
        "benchmark": "generation",
        "created": datetime.now(UTC).isoformat(),
        "quick": quick,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "before": before,
            "after": after,
            "idle": max(before["load_average"][0], after["load_average"][0])
            < 0.5 * (before["cpus"] or 1),
        },
        "sampling": SAMPLING,
        "targets": {"efficiency_at_16": 0.9, "ttft_median_s_tiny": 0.5},
        "results": rows,
        "headline": headline,
    }
    table = Table(title="generation: tokens/s (ratios measured side by side)")
    for column in (
        "model",
        "conc.",
        "baseline",
        "static16",
        "service",
        "speedup",
        "efficiency",
        "cpu eff.",
        "ttft med s",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["model"],
            str(r["concurrency"]),
            f"{r['baseline_tokens_per_s']:.1f}",
            f"{r['static_batch_tokens_per_s']:.1f}",
            f"{r['service_tokens_per_s']:.1f}",
            f"{r['speedup']:.2f}x",
            f"{r['efficiency']:.2f}",
            f"{r['cpu_efficiency']:.2f}",
            f"{r['ttft_median_s']:.3f}",
        )
    console.print(table)
    console.print(f"load average before {before['load_average']}, after {after['load_average']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/generation.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(args.out, quick=args.quick)
