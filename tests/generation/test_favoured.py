"""Favoured words: the first tokens of a story's names and things get ``favour`` added to their
logits, in the local sampler (the bundled model) and as ``logit_bias`` for remote servers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import torch

from bot.errors import InvalidRequest
from bot.generation import (
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.banned import first_tokens
from bot.generation.sampling import BatchSampler
from bot.models import bundled_model_path

PROMPT = "Once upon a time there was a little girl. One day she went outside and saw a"
GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=24)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_model_path()))


@pytest.fixture
async def service() -> AsyncIterator[GenerationService]:
    async with build_generation_service(GenerationSettings(device="cpu")) as svc:
        yield svc


def test_first_tokens_are_the_words_spelled_whole(tokenizer: Any) -> None:
    found = first_tokens(tokenizer, ["dragon", " Dragon "])
    (space_dragon,) = tokenizer.encode(" dragon", add_special_tokens=False)
    assert space_dragon in found
    assert {tokenizer.decode([t]).strip().lower() for t in found} == {"dragon"}
    # A word that takes several tokens is never cut to its first piece ("light" of "lighthouse").
    assert len(tokenizer.encode(" lighthouse", add_special_tokens=False)) > 1
    lighthouse = first_tokens(tokenizer, ["lighthouse"])
    assert all(tokenizer.decode([t]).strip().lower() == "lighthouse" for t in lighthouse)
    assert first_tokens(tokenizer, ["", "  "]) == frozenset()


def test_sampler_adds_favour_to_the_rows_favoured_tokens() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    params = [
        SamplingParams(temperature=0.0, repetition_penalty=1.0, favour=1.5),
        SamplingParams(temperature=0.0, repetition_penalty=1.0),
    ]
    gen = torch.Generator().manual_seed(0)
    sampler = BatchSampler(params, [None, None], gen, torch.device("cpu"))
    # Row 0: 1.0 + 1.5 beats 2.0; row 1 has no favour, so a favoured set changes nothing.
    assert sampler.choose(logits, None, {}, {0: {1}, 1: {1}}).tolist() == [1, 0]
    assert sampler.choose(logits, None, {}, {}).tolist() == [0, 0]
    assert logits.tolist() == [[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]]  # the caller's logits untouched


def test_favour_is_validated() -> None:
    with pytest.raises(InvalidRequest):
        SamplingParams(favour=-1.0)
    with pytest.raises(InvalidRequest):
        SamplingParams(favour=11.0)
    assert SamplingParams(favoured_words="cat").favoured_words == ("cat",)


async def test_local_backend_writes_the_favoured_word_once(service: GenerationService) -> None:
    plain = await service.complete(GenerationRequest(prompt=PROMPT, params=GREEDY))
    assert not re.search(r"\bdragon\b", plain.text, re.IGNORECASE), plain.text

    nudged = await service.complete(
        GenerationRequest(
            prompt=PROMPT, params=GREEDY.replace(favoured_words=("dragon",), favour=6.0)
        )
    )
    assert re.search(r"\bdragon\b", nudged.text, re.IGNORECASE), nudged.text
    # Once written, the word is no longer lifted: the model goes on in its own words.
    assert len(re.findall(r"\bdragon\b", nudged.text, re.IGNORECASE)) <= 3, nudged.text
    assert nudged.mean_logprob is not None and plain.mean_logprob is not None
