"""The continuous-batching path (transformers' manager), run on CPU with a small explicit config."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.generation import (
    GenerationRequest,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.continuous import ContinuousBackend, continuous_batching_config

GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, ignore_eos=True)


def test_config_is_explicit_and_small() -> None:
    settings = GenerationSettings(cb_num_blocks=32, cb_page_size=16, max_batch_size=4)
    config = continuous_batching_config(settings)
    assert (config.num_blocks, config.page_size, config.max_requests_per_batch) == (32, 16, 4)
    assert config.per_request_processors


async def test_continuous_batching_matches_the_static_loop(tiny_model_dir: Path) -> None:
    common: dict[str, Any] = {"model": str(tiny_model_dir), "device": "cpu"}
    cb_settings = GenerationSettings(
        batching="continuous",
        cb_num_blocks=64,
        cb_page_size=16,
        cb_max_batch_tokens=256,
        max_batch_size=4,
        **common,
    )
    requests = [
        GenerationRequest(
            f"Once upon a time {i}", GREEDY.replace(max_new_tokens=3 + i), channel_key=f"c{i % 2}"
        )
        for i in range(4)
    ]
    async with build_generation_service(GenerationSettings(**common)) as static:
        expected = await asyncio.gather(*(static.complete(r) for r in requests))
    async with build_generation_service(cb_settings) as cb:
        assert isinstance(cb._backend, ContinuousBackend)
        results = await asyncio.gather(*(cb.complete(r) for r in requests))
        assert [r.completion_tokens for r in results] == [3, 4, 5, 6]
        assert [r.text for r in results] == [e.text for e in expected]
        chunks = [c async for c in cb.stream(requests[3])]
        assert chunks[-1].done and chunks[-1].text == expected[3].text
        stream = cb.stream(GenerationRequest("A dragon", GREEDY.replace(max_new_tokens=900)))
        await anext(stream)
        await stream.aclose()  # the service ends the cancelled stream itself
        for _ in range(500):
            if cb.stats().active == 0:
                break
            await asyncio.sleep(0.01)
        assert cb.stats().active == 0 and cb.stats().cancelled == 1
