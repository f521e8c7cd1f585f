"""Moderated generation: blocked model output is regenerated and never reaches the adapter."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bot.adapters.console import run_jsonl
from bot.app import RULES_KEY, RULES_NAMESPACE, App
from bot.generation.types import GenerationRequest, SamplingParams
from bot.plugin import Call, Plugin, command
from bot.ports import CheckedText
from bot.router import WITHHELD
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
    # Sampling suppression off: this checks the post-filter backstop on its own.
    app = await make_app(
        plugin_classes=[Tell],
        moderation={"max_regen_attempts": 2},
        generation={"suppress_banned_words": False},
    )
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


async def test_forbidden_words_are_not_even_sampled(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Tell], moderation={"max_regen_attempts": 2})
    first = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"})])
    words = sorted({w.strip(".,!?\"'").lower() for w in first[-1]["text"].split() if len(w) >= 4})
    await app.store.settings.set(
        RULES_NAMESPACE, RULES_KEY, {"custom_words": words[:3]}, guild_id="console"
    )
    before = app.generation.stats().completed
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"})])
    posted = {w.strip(".,!?\"'").lower() for w in out[-1]["text"].split()}
    assert out[-1]["text"].strip() and not posted & set(words[:3])
    # the writer passed the server's words to the sampler: one generation, nothing blocked
    assert app.generation.stats().completed - before == 1
    assert not await app.store.moderation.find(guild_id="console")


async def test_allowed_output_streams_growing_text(make_app: AppFactory) -> None:
    app = await make_app(plugin_classes=[Tell])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/tell"})])
    texts = [r["text"] for r in out if r["kind"] in ("message", "edit")]
    assert texts and len(texts[-1]) >= len(texts[0])
    assert all(texts[-1].startswith(t.rstrip()[: len(t.rstrip()) // 2]) for t in texts)


def _same(text: str) -> str:
    return text


def _tell_with(
    post: Callable[[str], str], *, stream: bool, then: Callable[[str], str] = _same
) -> type[Plugin]:
    """A plugin that posts the writer's text after ``post`` (streamed, or complete and then
    changed by ``then``)."""

    class Posted(Plugin):
        name = "posted"
        description = "Posts a post-processed continuation."

        @command("posted", description="Continue the fixed prompt, post-processed.")
        async def posted(self, call: Call) -> None:
            request = GenerationRequest(
                prompt=PROMPT, params=SamplingParams(max_new_tokens=16, seed=1)
            )
            if stream:
                await call.stream_reply(request, render=post)
                return
            result = await self.context.writer.complete(
                request, channel=call.channel, user_id=call.author.id, post=post
            )
            assert isinstance(result.text, CheckedText)
            await call.reply(then(result.text))

    return Posted


async def _rules(app: App, **rules: object) -> None:
    await app.store.settings.set(RULES_NAMESPACE, RULES_KEY, rules, guild_id="console")


@pytest.mark.parametrize("stream", [False, True])
async def test_the_post_processed_text_is_what_is_checked(
    make_app: AppFactory, stream: bool
) -> None:
    """A word only the post step adds is caught: the check sees what would be posted."""
    post = _tell_with(lambda raw: "Zebra says: " + raw.strip(), stream=stream)
    app = await make_app(plugin_classes=[post], moderation={"max_regen_attempts": 1})
    await _rules(app, custom_words=["zebra"])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/posted"})])
    assert out and not any("zebra" in r["text"].lower() for r in out), out
    refusal = app.settings.moderation.refusal_message
    assert [(r["kind"], r["text"]) for r in out] == [("notice", refusal)]
    events = await app.store.moderation.find(guild_id="console")
    assert [e.action for e in events] == ["block", "block"], "two attempts, both audited"


@pytest.mark.parametrize("stream", [False, True])
async def test_checked_output_is_checked_once_and_posted_as_checked(
    make_app: AppFactory, stream: bool
) -> None:
    """A flagged (allowed) generated text is audited once: the router does not check the
    writer's text again."""
    post = _tell_with(lambda raw: "Zebra says: " + raw.strip(), stream=stream)
    app = await make_app(plugin_classes=[post])
    await _rules(app, custom_words=["zebra"], flag_only_categories=["custom"])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/posted"})])
    last = [r for r in out if r["kind"] in ("message", "edit")][-1]
    assert last["text"].startswith("Zebra says: ") and len(last["text"]) > len("Zebra says: ")
    events = await app.store.moderation.find(guild_id="console")
    # once, by the writer (streams: partial texts are checked unrecorded, the last one audited)
    assert [e.action for e in events] == ["flag"], events


async def test_text_built_from_checked_text_is_checked_again(make_app: AppFactory) -> None:
    """Changing a checked text makes a plain str, which the router checks as usual."""

    suffix = _tell_with(_same, stream=False, then=lambda text: text + " zebra")
    app = await make_app(plugin_classes=[suffix])
    await _rules(app, custom_words=["zebra"])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/posted"})])
    assert [r["text"] for r in out] == [WITHHELD]


async def test_checked_output_is_scrubbed_of_mentions(make_app: AppFactory) -> None:
    post = _tell_with(lambda raw: "@everyone " + raw.strip(), stream=False)
    app = await make_app(plugin_classes=[post])
    out = await run_jsonl(app, [json.dumps({"user": "ann", "text": "/posted"})])
    assert out[-1]["text"].startswith("@\u200beveryone "), out
