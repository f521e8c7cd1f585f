"""One-core speed of the bundled model for one request (tokens/s), side by side in one run.

Ways to make the same number of new tokens, interleaved round by round so machine noise hits
them alike:

* ``generate_sampling``: ``model.generate`` with the model's own sampling defaults;
* ``generate_greedy``: ``model.generate`` without sampling or logits processors;
* ``forward_loop``: a bare KV-cached forward loop with argmax (the model's own cost, no
  ``generate`` machinery);
* ``fast_forward_loop``: the same loop on :class:`bot.generation.fast_llama.FastLlama`;
* ``service``: one streamed request through storyloom's generation service (local backend, one
  torch thread, the model's sampling defaults, EOS ignored), as the story plugin streams;
* ``service_complete``: the same request with ``complete()`` (no text chunks on the way);
* ``service_model_forward``: streamed with ``fast_decoder=False`` (the model's own forward).

Prints the median tokens/s of each (wall clock, and per CPU-second of this process, which a busy
machine disturbs less), the ratios to ``forward_loop`` and ``service`` / the 500 tokens/s
target; writes JSON. Run: ``python -m bench model-speed`` or ``python -m bench.model_speed``
(``--quick`` for a shorter run).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from bot.generation import GenerationRequest, GenerationService, GenerationSettings, SamplingParams
from bot.generation.decoders import cache_argument, output_cache
from bot.generation.fast_llama import FastLlama, supports
from bot.generation.service import build_generation_service
from bot.models import BUNDLED_MODEL_NAME, bundled_model_path

PROMPT = (
    "Once upon a time, there was a little girl named Lily. She loved to play in the garden "
    "with her dog, Max. One day, she found a shiny key under a big tree."
)
TARGET_TOKENS_PER_S = 500.0
_SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "repetition_penalty", "ignore_eos")


def _timed(fn: Callable[[], int]) -> tuple[float, float]:
    """Tokens per wall-clock second and per CPU-second of this process (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n / (time.perf_counter() - wall), n / max(time.process_time() - cpu, 1e-9)


def _service_params(model: Any, new_tokens: int) -> SamplingParams:
    """The model's own sampling defaults (``generation_config.json``), a fixed length."""
    config = model.generation_config
    return SamplingParams(
        temperature=float(config.temperature or 1.0) if config.do_sample else 0.0,
        top_k=int(config.top_k or 0),
        top_p=float(config.top_p or 1.0),
        repetition_penalty=float(config.repetition_penalty or 1.0),
        max_new_tokens=new_tokens,
        ignore_eos=True,
    )


def _service(path: Path, fast_decoder: bool, loop: asyncio.AbstractEventLoop) -> GenerationService:
    settings = GenerationSettings(
        model=str(path),
        device="cpu",
        dtype="float32",
        batching="static",
        torch_threads=1,
        fast_decoder=fast_decoder,
    )
    service = build_generation_service(settings)
    loop.run_until_complete(service.start())
    return service


def main(
    out: Path = Path("bench/results/model_speed.json"),
    quick: bool = False,
    model_dir: Path | None = None,
) -> dict[str, object]:
    """Measure, print and write the results; returns them."""
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    path = model_dir or bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    fast = FastLlama(model) if supports(model) else None
    inputs = tokenizer(PROMPT, return_tensors="pt")
    prompt_len = int(inputs["input_ids"].shape[1])
    new_tokens = 64 if quick else 128
    rounds = 3 if quick else 7
    lengths = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
    sampling = copy.deepcopy(model.generation_config)
    sampling.update(**lengths)
    # Greedy as kwargs: a fresh config would inherit the model's sampling fields and warn.
    greedy: dict[str, object] = {
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "repetition_penalty": None,
        **lengths,
    }
    request = GenerationRequest(PROMPT, _service_params(model, new_tokens))
    loop = asyncio.new_event_loop()
    services = {flag: _service(path, flag, loop) for flag in (True, False)}

    def run_generate(**kwargs: object) -> int:
        with torch.inference_mode():
            ids = model.generate(**inputs, **kwargs)
        return int(ids.shape[1]) - prompt_len

    cache_name = cache_argument(model)

    def run_forward_loop() -> int:
        with torch.inference_mode():
            result = model(**inputs, use_cache=True)
            cache = output_cache(result)
            nxt = result.logits[:, -1:].argmax(-1)
            for _ in range(new_tokens - 1):
                result = model(input_ids=nxt, use_cache=True, **{cache_name: cache})
                cache = output_cache(result)
                nxt = result.logits[:, -1:].argmax(-1)
        return new_tokens

    def run_fast_forward_loop() -> int:
        assert fast is not None
        with torch.inference_mode():
            mask = inputs["attention_mask"]
            positions = torch.arange(prompt_len).unsqueeze(0)
            logits, cache = fast(inputs["input_ids"], mask, positions, None)
            nxt = logits.argmax(-1, keepdim=True)
            for _ in range(new_tokens - 1):
                mask = torch.cat([mask, mask.new_ones((1, 1))], 1)
                positions = positions[:, -1:] + 1
                logits, cache = fast(nxt, mask, positions, cache)
                nxt = logits.argmax(-1, keepdim=True)
        return new_tokens

    async def complete(service: GenerationService) -> int:
        result = await service.complete(request)
        assert result.completion_tokens == new_tokens
        return new_tokens

    async def stream(service: GenerationService) -> int:
        last = None
        async for chunk in service.stream(request):
            last = chunk
        assert last is not None and last.completion_tokens == new_tokens
        return new_tokens

    modes: dict[str, Callable[[], int]] = {
        "generate_sampling": lambda: run_generate(generation_config=sampling),
        "generate_greedy": lambda: run_generate(**greedy),
        "forward_loop": run_forward_loop,
        **({"fast_forward_loop": run_fast_forward_loop} if fast is not None else {}),
        "service": lambda: loop.run_until_complete(stream(services[True])),
        "service_complete": lambda: loop.run_until_complete(complete(services[True])),
        "service_model_forward": lambda: loop.run_until_complete(stream(services[False])),
    }
    try:
        for fn in modes.values():  # warm-up
            fn()
        samples: dict[str, list[float]] = {name: [] for name in modes}
        cpu_samples: dict[str, list[float]] = {name: [] for name in modes}
        for _ in tqdm(range(rounds), desc="rounds", unit="round"):
            for name, fn in modes.items():
                wall, cpu = _timed(fn)
                samples[name].append(wall)
                cpu_samples[name].append(cpu)
    finally:
        for service in services.values():
            loop.run_until_complete(service.close())
        loop.close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_samples.items()}
    base = medians["forward_loop"]
    load_after = os.getloadavg()[0]
    results: dict[str, object] = {
        "model": BUNDLED_MODEL_NAME if model_dir is None else str(model_dir),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": 1,
        "prompt_tokens": prompt_len,
        "new_tokens": new_tokens,
        "rounds": rounds,
        "service_sampling": {k: getattr(request.params, k) for k in _SAMPLING_FIELDS},
        "tokens_per_s_median": {k: round(v, 1) for k, v in medians.items()},
        "tokens_per_cpu_s_median": {k: round(v, 1) for k, v in cpu_medians.items()},
        "tokens_per_s_all": {k: [round(x, 1) for x in v] for k, v in samples.items()},
        "ratio_to_forward_loop": {k: round(v / base, 3) for k, v in medians.items()},
        "fast_forward_loop_vs_forward_loop": (
            round(medians["fast_forward_loop"] / base, 3) if fast is not None else None
        ),
        "service_vs_generate_sampling": round(medians["service"] / medians["generate_sampling"], 3),
        "service_vs_service_model_forward": round(
            medians["service"] / medians["service_model_forward"], 3
        ),
        "service_vs_target_500": round(medians["service"] / TARGET_TOKENS_PER_S, 3),
        "service_complete_vs_target_500": round(
            medians["service_complete"] / TARGET_TOKENS_PER_S, 3
        ),
        "sampling_vs_target_500": round(medians["generate_sampling"] / TARGET_TOKENS_PER_S, 3),
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"one request, one core, {new_tokens} new tokens, median of {rounds} rounds:")
    print(f"  {'mode':<22} {'tokens/s':>9} {'per CPU-s':>10}   ratio")
    for name, value in medians.items():
        print(
            f"  {name:<22} {value:9.1f} {cpu_medians[name]:10.1f}"
            f"   x{value / base:.2f} of forward_loop"
        )
    print(
        f"  fast_forward_loop / forward_loop: x{results['fast_forward_loop_vs_forward_loop']}"
        f"   service / generate_sampling: x{results['service_vs_generate_sampling']}"
        f"   service / service_model_forward: x{results['service_vs_service_model_forward']}"
    )
    print(
        f"  service / 500 tokens/s target: x{results['service_vs_target_500']}"
        f"   service_complete / 500: x{results['service_complete_vs_target_500']}"
        f"   (1-min load average {load_before:.2f} before, {load_after:.2f} after,"
        f" {os.cpu_count()} cores)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/model_speed.json"))
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--model-dir", type=Path, help="another HF model dir (default: bundled)")
    args = parser.parse_args()
    main(out=args.out, quick=args.quick, model_dir=args.model_dir)
