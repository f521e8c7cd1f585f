"""One-core speed of the bundled model for one request (tokens/s), side by side in one run.

Three ways to make the same number of new tokens, interleaved round by round so machine noise
hits them alike:

* ``generate_sampling``: ``model.generate`` with the model's own sampling defaults (what a
  request to the bot costs);
* ``generate_greedy``: ``model.generate`` without sampling or logits processors;
* ``forward_loop``: a bare KV-cached forward loop with argmax (the model's own cost, no
  ``generate`` machinery).

Prints the median tokens/s of each and the ratios to ``forward_loop``; writes JSON.
Run: ``python -m bench.model_speed`` (``--quick`` for a shorter run).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from bot.models import BUNDLED_MODEL_NAME, bundled_model_path

PROMPT = (
    "Once upon a time, there was a little girl named Lily. She loved to play in the garden "
    "with her dog, Max. One day, she found a shiny key under a big tree."
)
TARGET_TOKENS_PER_S = 500.0


def _timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - start)


def main(
    out: Path = Path("bench/results/model_speed.json"),
    quick: bool = False,
    model_dir: Path | None = None,
) -> dict[str, object]:
    """Measure, print and write the results; returns them."""
    torch.set_num_threads(1)
    path = model_dir or bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
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

    def run_generate(**kwargs: object) -> int:
        with torch.inference_mode():
            ids = model.generate(**inputs, **kwargs)
        return int(ids.shape[1]) - prompt_len

    def run_forward_loop() -> int:
        with torch.inference_mode():
            result = model(**inputs, use_cache=True)
            cache = result.past_key_values
            nxt = result.logits[:, -1:].argmax(-1)
            for _ in range(new_tokens - 1):
                result = model(input_ids=nxt, past_key_values=cache, use_cache=True)
                cache = result.past_key_values
                nxt = result.logits[:, -1:].argmax(-1)
        return new_tokens

    modes: dict[str, Callable[[], int]] = {
        "generate_sampling": lambda: run_generate(generation_config=sampling),
        "generate_greedy": lambda: run_generate(**greedy),
        "forward_loop": run_forward_loop,
    }
    for fn in modes.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for _ in tqdm(range(rounds), desc="rounds", unit="round"):
        for name, fn in modes.items():
            samples[name].append(_timed(fn))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["forward_loop"]
    results: dict[str, object] = {
        "model": BUNDLED_MODEL_NAME if model_dir is None else str(model_dir),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": 1,
        "prompt_tokens": prompt_len,
        "new_tokens": new_tokens,
        "rounds": rounds,
        "tokens_per_s_median": {k: round(v, 1) for k, v in medians.items()},
        "tokens_per_s_all": {k: [round(x, 1) for x in v] for k, v in samples.items()},
        "ratio_to_forward_loop": {k: round(v / base, 3) for k, v in medians.items()},
        "sampling_vs_target_500": round(medians["generate_sampling"] / TARGET_TOKENS_PER_S, 3),
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"one request, one core, {new_tokens} new tokens, median of {rounds} rounds:")
    for name, value in medians.items():
        print(f"  {name:<18} {value:8.1f} tokens/s   x{value / base:.2f} of forward_loop")
    print(
        f"  sampling / 500 tokens/s target: x{results['sampling_vs_target_500']}"
        f"   (1-min load average {results['load_average_1m']:.1f})"
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
