"""The remote backend against llama.cpp's server (``llama-cpp-python[server]``) serving the bundled
model converted to GGUF by scripts/export_gguf.py: a real third-party inference engine."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from bench.scale import inference_server
from bot.generation import (
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.models import bundled_model_path

pytestmark = pytest.mark.slow

DRAGON_PROMPT = "Once upon a time there was a big dragon. The dragon"
GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=32)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("llama-cpp")
    loop = asyncio.new_event_loop()
    server = inference_server("llama-cpp", work)
    try:
        yield loop.run_until_complete(server.__aenter__()).url
    finally:
        loop.run_until_complete(server.__aexit__(None, None, None))
        loop.close()


@pytest.fixture
async def remote(llama_server: str) -> AsyncIterator[GenerationService]:
    settings = GenerationSettings(
        backend="openai",
        base_url=llama_server,
        model=str(bundled_model_path()),  # the local tokenizer: exact counts, logit_bias ids
        remote_model="storyloom",
        remote_context_tokens=512,
    )
    async with build_generation_service(settings) as svc:
        yield svc


def says(word: str, text: str) -> bool:
    return re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text, re.IGNORECASE) is not None


async def test_streams_and_serves_concurrently(remote: GenerationService) -> None:
    request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=12))
    chunks = [chunk async for chunk in remote.stream(request)]
    assert len(chunks) >= 2 and chunks[-1].done and chunks[-1].finish_reason == "length"
    for before, after in itertools.pairwise(chunks):
        assert after.text.startswith(before.text)
    assert chunks[-1].completion_tokens == 12
    assert chunks[-1].prompt_tokens == remote.count_tokens("Once upon a time")
    results = await asyncio.gather(
        *(remote.complete(GenerationRequest("Once upon a time", GREEDY)) for _ in range(3))
    )
    assert len({r.text for r in results}) == 1  # greedy: the same text for each
    stopped = await remote.complete(
        GenerationRequest("Once upon a time", GREEDY.replace(stop=(".",), max_new_tokens=60))
    )
    assert "." not in stopped.text and stopped.finish_reason == "stop"


async def test_banned_words_are_masked_with_logit_bias(remote: GenerationService) -> None:
    free = await remote.complete(GenerationRequest(DRAGON_PROMPT, GREEDY))
    assert says("dragon", free.text)  # llama.cpp's own choice
    banned = await remote.complete(
        GenerationRequest(DRAGON_PROMPT, GREEDY.replace(banned_words=("dragon",)))
    )
    assert not says("dragon", banned.text)
    assert banned.text != free.text and banned.completion_tokens == 32
