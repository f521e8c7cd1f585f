"""Evaluation: how often poems keep their form (form-valid rate), per form and prompt format.

``python -m bench.poems --topics 8 --out bench/results/poems.json`` writes, for each form, side by
side in one run with the same model and topics:

- ``raw``: the model asked once for the whole poem (few-shot prompt, no checking) — the baseline;
- ``composed``: the poem plugin's composer (line by line, candidates, cutting, rhyme repair,
  up to ``--attempts`` checked attempts);
- with ``--chat``: the composer with the *chat* prompt format, on a temporary copy of the model
  whose tokenizer is given a plain ``User:``/``Assistant:`` chat template (the bundled model is a
  base model; this exercises the chat code path, it does not make the model instruction-tuned).

Rates are fractions of poems whose final text passes :func:`plugins.poem.forms.check_poem`;
``ratio`` = composed rate / raw rate. ``known_word_rate`` (the share of words the pronouncing
dictionary knows) is a rough proxy for whether the lines are made of real words: a valid form
says nothing about sense. Moderation is not in the loop (the plugin adds it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bot.generation.service import GenerationService, build_generation_service
from bot.generation.settings import GenerationSettings
from bot.generation.types import GenerationRequest
from plugins.poem.composer import ComposerSettings, PoemComposer, clean_line
from plugins.poem.forms import PoemForm, check_poem, layout
from plugins.poem.prompts import PoemPrompt, base_line_prompt
from plugins.poem.prosody import is_known, split_words
from plugins.poem.settings import PoemSettings

log = logging.getLogger(__name__)

TOPICS = (
    "the sea",
    "a dragon",
    "the moon",
    "a little mouse",
    "rain",
    "a birthday cake",
    "the forest",
    "a brave knight",
    "snow",
    "a lost kitten",
    "the sun",
    "a magic garden",
    "a robot",
    "autumn leaves",
    "a pirate ship",
    "the stars",
)
ACROSTIC_WORDS = {
    "the sea": "sea",
    "a dragon": "dragon",
    "the moon": "moon",
    "a little mouse": "mouse",
    "rain": "rain",
    "a birthday cake": "cake",
    "the forest": "tree",
    "a brave knight": "brave",
    "snow": "snow",
    "a lost kitten": "kitten",
    "the sun": "sun",
    "a magic garden": "garden",
    "a robot": "robot",
    "autumn leaves": "leaf",
    "a pirate ship": "ship",
    "the stars": "star",
}
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}{% if not loop.last %}\n{% endif %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)

Generate = Callable[[GenerationRequest], Awaitable[str | None]]


def chat_model_copy(source: Path, into: Path) -> Path:
    """Copy the model dir and give its tokenizer a chat template (retries while it is swapped)."""
    target = into / "chat_model"
    for _ in range(5):
        try:
            shutil.copytree(source, target, dirs_exist_ok=True)
            break
        except (FileNotFoundError, shutil.Error):
            time.sleep(2)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(config, indent=2))
    return target


async def raw_poem(generate: Generate, prompt: PoemPrompt, seed: int, lines: int) -> list[str]:
    """Baseline: one few-shot request for the whole poem, lines taken as written."""
    rules = layout(prompt.form, word=prompt.word, lines=lines)
    budget = sum(2 * r.max_syllables + 6 for r in rules)
    from bot.generation.types import SamplingParams

    request = GenerationRequest(
        prompt=base_line_prompt(prompt, []),
        params=SamplingParams(
            temperature=0.9,
            top_k=40,
            top_p=0.95,
            repetition_penalty=1.15,
            max_new_tokens=budget,
            stop=("\n\n",),
            seed=seed,
        ),
    )
    text = await generate(request) or ""
    out = [clean_line(line) for line in text.split("\n")]
    return [line for line in out if line][: len(rules)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    forms = [PoemForm(f) for f in args.forms.split(",")] if args.forms else list(PoemForm)
    topics = list(TOPICS[: args.topics])
    settings = PoemSettings()
    composer_settings = ComposerSettings(
        sampling=settings.sampling.params(),
        candidates=args.candidates,
        max_attempts=args.attempts,
        deadline_s=600.0,
    )
    modes = ["raw", "composed"] + (["chat"] if args.chat else [])
    results: dict[str, Any] = {
        "modes": {},
        "topics": topics,
        "forms": [f.value for f in forms],
        "candidates": args.candidates,
        "attempts": args.attempts,
    }
    with tempfile.TemporaryDirectory() as tmp:
        services: dict[str, GenerationService] = {}
        gen_settings = dict(
            max_batch_size=16,
            queue_size=256,
            default_timeout_s=900.0,
            torch_threads=args.threads,
            device="cpu" if args.cpu else "auto",
        )
        base = build_generation_service(GenerationSettings(model=args.model, **gen_settings))
        await base.start()
        services["raw"] = services["composed"] = base
        if args.chat:
            from bot.models import bundled_model_path

            source = Path(args.model) if args.model else bundled_model_path()
            chat = build_generation_service(
                GenerationSettings(model=str(chat_model_copy(source, Path(tmp))), **gen_settings)
            )
            await chat.start()
            assert chat.is_chat_model, "the chat copy should have a chat template"
            services["chat"] = chat
        model_name = base.model_name
        try:
            total = len(modes) * len(forms) * len(topics)
            with Progress() as progress:
                task = progress.add_task("poems", total=total)
                for mode in modes:
                    service = services[mode]

                    async def generate(
                        request: GenerationRequest, service: GenerationService = service
                    ) -> str | None:
                        return (await service.complete(request)).text

                    records: list[dict[str, Any]] = []
                    semaphore = asyncio.Semaphore(args.parallel)

                    async def one(
                        form: PoemForm,
                        topic: str,
                        index: int,
                        mode: str = mode,
                        generate: Generate = generate,
                        records: list[dict[str, Any]] = records,
                        semaphore: asyncio.Semaphore = semaphore,
                    ) -> None:
                        async with semaphore:
                            word = (
                                ACROSTIC_WORDS.get(topic, "word")
                                if form is PoemForm.ACROSTIC
                                else ""
                            )
                            prompt = PoemPrompt(form=form, topic=topic, word=word)
                            started = time.perf_counter()
                            rng = random.Random(args.seed * 1000 + index)
                            if mode == "raw":
                                lines = await raw_poem(
                                    generate,
                                    prompt,
                                    rng.randrange(2**31),
                                    settings.free_verse_lines,
                                )
                                attempts, repairs = 1, 0
                            else:
                                composer = PoemComposer(
                                    generate,
                                    chat=mode == "chat",
                                    settings=composer_settings,
                                    rng=rng,
                                )
                                poem = await composer.compose(
                                    prompt, lines=settings.free_verse_lines
                                )
                                lines, attempts, repairs = (
                                    list(poem.lines),
                                    poem.attempts,
                                    poem.repairs,
                                )
                            check = check_poem(form, lines, word=word)
                            records.append(
                                {
                                    "form": form.value,
                                    "topic": topic,
                                    "valid": check.valid,
                                    "problems": list(check.problems),
                                    "lines": lines,
                                    "attempts": attempts,
                                    "repairs": repairs,
                                    "seconds": round(time.perf_counter() - started, 2),
                                }
                            )
                            progress.advance(task)

                    jobs = [one(form, topic, i) for form in forms for i, topic in enumerate(topics)]
                    await asyncio.gather(*jobs)
                    per_form = {}
                    for form in forms:
                        rows = [r for r in records if r["form"] == form.value]
                        per_form[form.value] = {
                            "valid_rate": round(sum(r["valid"] for r in rows) / len(rows), 3),
                            "n": len(rows),
                            "mean_attempts": round(sum(r["attempts"] for r in rows) / len(rows), 2),
                            "repaired_lines": sum(r["repairs"] for r in rows),
                            "known_word_rate": _known_rate(rows),
                        }
                    overall = sum(r["valid"] for r in records) / len(records)
                    results["modes"][mode] = {
                        "per_form": per_form,
                        "valid_rate": round(overall, 3),
                        "poems": records,
                    }
        finally:
            for service in {id(s): s for s in services.values()}.values():
                await service.close()
    raw_rate = results["modes"]["raw"]["valid_rate"]
    results["ratio_composed_vs_raw"] = (
        round(results["modes"]["composed"]["valid_rate"] / raw_rate, 2) if raw_rate else None
    )
    results["model"] = model_name
    return results


def _known_rate(rows: list[dict[str, Any]]) -> float:
    """Share of the poems' words that the pronouncing dictionary knows (a proxy for real words)."""
    words = [w for r in rows for line in r["lines"] for w in split_words(line)]
    return round(sum(is_known(w) for w in words) / len(words), 3) if words else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--topics", type=int, default=8, help=f"topics per form (max {len(TOPICS)})"
    )
    parser.add_argument("--forms", default="", help="comma-separated forms (default: all)")
    parser.add_argument("--candidates", type=int, default=PoemSettings().candidates)
    parser.add_argument("--attempts", type=int, default=PoemSettings().max_attempts)
    parser.add_argument("--chat", action="store_true", help="also run the chat prompt format")
    parser.add_argument("--model", default=None, help="model dir (default: the bundled model)")
    parser.add_argument("--parallel", type=int, default=4, help="poems written at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--cpu", action="store_true", help="force the CPU")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/poems.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"model: {results['model']}  topics per form: {len(results['topics'])}")
    for mode, data in results["modes"].items():
        rates = "  ".join(f"{form} {v['valid_rate']:.0%}" for form, v in data["per_form"].items())
        known = sum(v["known_word_rate"] for v in data["per_form"].values()) / len(data["per_form"])
        print(f"{mode:>9}: overall {data['valid_rate']:.0%}  |  {rates}  |  real words {known:.0%}")
    ratio = results["ratio_composed_vs_raw"]
    raw_rate = results["modes"]["raw"]["valid_rate"]
    composed_rate = results["modes"]["composed"]["valid_rate"]
    shown = f"{ratio}x" if ratio is not None else "undefined (raw rate is 0)"
    print(f"composed / raw form-valid ratio: {shown} ({composed_rate:.0%} vs {raw_rate:.0%})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
