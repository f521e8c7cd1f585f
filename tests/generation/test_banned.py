"""Banned words kept out of sampling: token bans compiled from word entries, and the local backend
honouring them (the bundled story model, which writes "dragon" whenever a story has one)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.generation import (
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.banned import SequenceBan, compile_banned, logit_bias, parse_entry
from bot.models import bundled_model_path

DRAGON_PROMPT = "Once upon a time there was a big dragon. The dragon"
GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=40)


def says(word: str, text: str) -> bool:
    """True when ``text`` has ``word`` as a whole word (any case)."""
    return re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_model_path()))


@pytest.fixture
async def story_service() -> AsyncIterator[GenerationService]:
    async with build_generation_service(GenerationSettings(device="cpu")) as svc:
        yield svc


def test_entries_follow_automod_wildcards() -> None:
    assert parse_entry("dragon") == ("dragon", False, False)
    assert parse_entry("drag*") == ("drag", True, False)
    assert parse_entry("*agon") == ("agon", False, True)
    assert parse_entry(" *rag* ") == ("rag", True, True)
    assert parse_entry("**") is None and parse_entry("dr*gon") is None


def test_single_tokens_and_sequences(tokenizer: Any) -> None:
    bans = compile_banned(tokenizer, ["dragon"])
    (space_dragon,) = tokenizer.encode(" dragon", add_special_tokens=False)
    assert space_dragon in bans.single  # " dragon" is one token
    texts = [tokenizer.decode([t]).strip().lower() for t in bans.single]
    assert texts and all(t == "dragon" for t in texts)  # a whole-word entry bans only the word
    # "Dragon" takes several tokens: its last one is banned right after the others
    *prefix, last = tokenizer.encode("Dragon", add_special_tokens=False)
    assert last in bans.sequences[tuple(prefix)]
    assert logit_bias(bans) == {str(t): -100 for t in sorted(bans.single)}
    # a prefix entry also bans tokens that start with it ("dragons", "dragonfly", ...)
    prefix_bans = compile_banned(tokenizer, ["dragon*"])
    assert bans.single <= prefix_bans.single
    grown = {tokenizer.decode([t]).strip().lower() for t in prefix_bans.single - bans.single}
    assert all(t.startswith("dragon") and t != "dragon" for t in grown)
    assert compile_banned(tokenizer, ["dragon"]) is bans  # cached per tokenizer and words


def test_sequence_ban_follows_the_text(tokenizer: Any) -> None:
    bans = compile_banned(tokenizer, ["Dragon"])
    *prefix, last = tokenizer.encode("Dragon", add_special_tokens=False)
    row = SequenceBan(bans, tokenizer.encode("A story.", add_special_tokens=False))
    assert last not in row.banned()
    for token in prefix:
        row.push(token)
    assert last in row.banned()  # "Drag" was just written: "on" may not follow
    row.push(tokenizer.encode(" the", add_special_tokens=False)[0])
    assert last not in row.banned()
    # a prompt that ends in the prefix counts too
    assert (
        last
        in SequenceBan(bans, [*tokenizer.encode("A", add_special_tokens=False), *prefix]).banned()
    )


async def test_local_sampler_never_writes_a_banned_word(story_service: GenerationService) -> None:
    free = await story_service.complete(GenerationRequest(DRAGON_PROMPT, GREEDY))
    assert says("dragon", free.text)  # the model's own choice
    params = GREEDY.replace(banned_words=("dragon", "fox"))
    banned = await story_service.complete(GenerationRequest(DRAGON_PROMPT, params))
    assert not says("dragon", banned.text) and not says("fox", banned.text)
    assert banned.completion_tokens == 40
    # sampled rows in one batch: each row keeps its own bans
    sampled = [
        GenerationRequest(
            DRAGON_PROMPT,
            SamplingParams(temperature=0.9, seed=seed, max_new_tokens=48, banned_words=words),
        )
        for seed in range(6)
        for words in ((), ("dragon",))
    ]
    results = await asyncio.gather(*(story_service.complete(r) for r in sampled))
    with_bans = [r.text for r, q in zip(results, sampled, strict=True) if q.params.banned_words]
    without = [r.text for r, q in zip(results, sampled, strict=True) if not q.params.banned_words]
    assert not any(says("dragon", t) for t in with_bans)
    assert sum(says("dragon", t) for t in without) >= 3


async def test_suppression_can_be_switched_off() -> None:
    settings = GenerationSettings(device="cpu", suppress_banned_words=False)
    async with build_generation_service(settings) as svc:
        params = GREEDY.replace(banned_words=("dragon",))
        result = await svc.complete(GenerationRequest(DRAGON_PROMPT, params))
    assert says("dragon", result.text)  # left to the moderation post-filter
