"""Moderated generation: blocked model output is regenerated and never reaches the adapter."""

from __future__ import annotations

import json

from bot.adapters.console import run_jsonl
from bot.app import RULES_KEY, RULES_NAMESPACE
from bot.generation.types import GenerationRequest, SamplingParams
from bot.plugin import Call, Plugin, command
from tests.conftest import AppFactory

PROMPT = "Once upon a time, there was a little girl named Lily. Every day, Lily"


class Tell(Plugin):
    name = "tell"
    description = "Streams a continuation."

    @command("tell", description="Continue the fixed prompt.")
    async def tell(self, call: Call) -> None:
        request = GenerationRequest(prompt=PROMPT, params=SamplingParams(max_new_tokens=24, seed=1))
        await call.stream_reply(request)


async def test_blocked_output_is_never_posted_and_is_audited(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Tell], moderation={"max_regen_attempts": 2})
    first = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"})])
    words = sorted({w.strip(".,!?\"'").lower() for w in first[-1]["text"].split() if len(w) >= 4})[
        :3
    ]
    assert words, first
    # Now this server forbids words the model wrote for exactly this (seeded) request.
    await app.store.settings.set(
        RULES_NAMESPACE, RULES_KEY, {"custom_words": words}, guild_id="console"
    )
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"}) for _ in range(2)])
    assert out, "every request gets an answer"
    for record in out:
        posted = {w.strip(".,!?\"'").lower() for w in record["text"].split()}
        assert not posted & set(words), record
    events = await app.store.moderation.find(guild_id="console")
    assert events and all(e.action == "block" and e.rule for e in events), (words, first, out)


async def test_allowed_output_streams_growing_text(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Tell])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"})])
    texts = [r["text"] for r in out if r["kind"] in ("message", "edit")]
    assert texts and len(texts[-1]) >= len(texts[0])
    assert all(texts[-1].startswith(t.rstrip()[: len(t.rstrip()) // 2]) for t in texts)
