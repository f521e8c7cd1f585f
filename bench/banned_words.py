"""Regenerations saved by keeping a server's banned words out of sampling.

A server forbids a word its stories keep asking for (``dragon``, as a custom word in its
moderation rules); prompts about dragons are continued through the real moderated writer
(moderation checks every text, a blocked one is regenerated up to ``--attempts`` times, then
refused) with the bundled model. The same seeded requests run twice, side by side: with the
words left to the post-filter alone (``suppress_banned_words = false``, before) and with them
masked while sampling (after). Reported: generations run, regenerations, refusals and blocks for
each, and wall time per request.

Run: ``python -m bench banned-words [--requests 48] [--out bench/results/banned_words.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORD = "dragon"
PROMPTS = (
    "Once upon a time there was a big dragon. The dragon",
    "The little dragon wanted to fly over the hills. One day the",
    "Lily saw a dragon in the sky. The",
    "Tom had a pet dragon named Spark. Every morning, the",
    "The dragon was sad because nobody wanted to play with him. Then the",
    "A kind dragon lived in a cave near the village. The children",
)


async def measure(requests: int, attempts: int, *, suppress: bool) -> dict[str, Any]:
    """Run ``requests`` seeded continuations through the moderated writer; the counts."""
    from bot.errors import Blocked
    from bot.generation import GenerationRequest, GenerationSettings, SamplingParams
    from bot.generation import build_generation_service as build
    from bot.moderation.audit import MemoryAuditSink
    from bot.moderation.pipeline import ModerationPipeline, StaticRulesProvider
    from bot.moderation.settings import ModerationSettings
    from bot.moderation.types import GuildRules
    from bot.types import ChannelRef
    from bot.writer import ModeratedWriter

    audit = MemoryAuditSink()
    rules = StaticRulesProvider({"g": GuildRules(custom_words=(WORD,))})
    moderation = ModerationPipeline(
        ModerationSettings(classifier_enabled=False), rules_provider=rules, audit=audit
    )
    settings = GenerationSettings(device="cpu", suppress_banned_words=suppress, max_batch_size=8)
    channel = ChannelRef(channel_id="c", guild_id="g", name="tales")
    refused = 0
    started = time.perf_counter()
    async with build(settings) as service:
        writer = ModeratedWriter(service, moderation, max_attempts=attempts)

        async def one(i: int) -> str:
            params = SamplingParams(temperature=0.8, max_new_tokens=48, seed=1000 + i)
            request = GenerationRequest(PROMPTS[i % len(PROMPTS)], params, channel_key=f"c{i}")
            return (await writer.complete(request, channel=channel)).text

        outcomes = await asyncio.gather(*(one(i) for i in range(requests)), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Blocked):
                refused += 1
            elif isinstance(outcome, BaseException):
                raise outcome
        generations = service.stats().completed
    elapsed = time.perf_counter() - started
    posted = [o for o in outcomes if isinstance(o, str)]
    return {
        "suppress_banned_words": suppress,
        "requests": requests,
        "generations": generations,
        "regenerations": generations - requests,
        "refused": refused,
        "blocked_texts": len(audit.events),
        "posted_with_the_word": sum(WORD in text.lower() for text in posted),
        "seconds": round(elapsed, 2),
        "seconds_per_request": round(elapsed / requests, 3),
    }


async def bench(requests: int, attempts: int) -> dict[str, Any]:
    before = await measure(requests, attempts, suppress=False)
    after = await measure(requests, attempts, suppress=True)
    saved = before["regenerations"] - after["regenerations"]
    return {
        "benchmark": "banned_words",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "word": WORD,
        "attempts_per_request": attempts,
        "before": before,
        "after": after,
        "regenerations_saved": saved,
        "regenerations_saved_share": round(saved / before["regenerations"], 3)
        if before["regenerations"]
        else None,
        "refusals_saved": before["refused"] - after["refused"],
        "time_ratio_after_to_before": round(after["seconds"] / before["seconds"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench banned-words", description=__doc__)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--attempts", type=int, default=4, help="writer attempts per request")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "banned_words.json"
    )
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(bench(options.requests, options.attempts))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for name in ("before", "after"):
        r = results[name]
        print(
            f"{name:>6}: {r['generations']} generations for {r['requests']} requests "
            f"({r['regenerations']} regenerations, {r['refused']} refused, "
            f"{r['posted_with_the_word']} posted with the word), {r['seconds']} s"
        )
    print(f"regenerations saved: {results['regenerations_saved']}; written to {options.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
