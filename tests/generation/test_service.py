"""The generation service with the local transformers backend on a real tiny model (CPU)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import torch

from bot.errors import (
    GenerationCancelled,
    GenerationTimeout,
    InvalidRequest,
    Overloaded,
    PromptTooLong,
    UserFacingError,
)
from bot.generation import (
    ChatMessage,
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)

GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, ignore_eos=True)


@pytest.fixture
async def service(tiny_model_dir: Path) -> AsyncIterator[GenerationService]:
    settings = GenerationSettings(
        model=str(tiny_model_dir), device="cpu", max_batch_size=8, stream_interval_s=0.0
    )
    async with build_generation_service(settings) as svc:
        yield svc


async def _wait_idle(svc: GenerationService) -> None:
    for _ in range(500):
        if svc.stats().active == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the service never became idle")


async def test_concurrent_channels_get_their_own_lengths_and_sampling(
    service: GenerationService, tiny_model_dir: Path
) -> None:
    seeded = SamplingParams(temperature=0.9, top_k=20, top_p=0.9, seed=7, ignore_eos=True)
    requests = [
        GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=6), channel_key="a"),
        GenerationRequest("The knight rode", seeded.replace(max_new_tokens=5), channel_key="b"),
        GenerationRequest("The knight rode", seeded.replace(max_new_tokens=5), channel_key="c"),
        GenerationRequest("A dragon", seeded.replace(max_new_tokens=3, seed=8), channel_key="a"),
        GenerationRequest(
            "The wizard opened the old book",
            SamplingParams(
                no_repeat_ngram_size=2, repetition_penalty=1.3, max_new_tokens=7, ignore_eos=True
            ),
            channel_key="b",
        ),
    ]
    results = await asyncio.gather(*(service.complete(r) for r in requests))
    assert [r.completion_tokens for r in results] == [6, 5, 5, 3, 7]
    assert all(r.finish_reason == "length" for r in results)
    # same seed, same prompt: same text, whatever else shares the batch
    assert results[1].text == results[2].text
    alone = await service.complete(requests[1])
    assert alone.text == results[1].text

    # the greedy row equals model.generate's greedy continuation
    assert results[0].text == _generate_greedy(tiny_model_dir, "Once upon a time", 6)
    assert results[0].prompt_tokens == service.count_tokens("Once upon a time")


@pytest.mark.parametrize(
    "changes",
    [{"no_repeat_ngram_size": 2}, {"repetition_penalty": 1.5}],
)
async def test_penalties_match_transformers_generate(
    service: GenerationService, tiny_model_dir: Path, changes: dict[str, object]
) -> None:
    params = GREEDY.replace(max_new_tokens=30, **changes)
    plain, penalised = await asyncio.gather(
        service.complete(GenerationRequest("The dragon slept", GREEDY.replace(max_new_tokens=30))),
        service.complete(GenerationRequest("The dragon slept", params)),
    )
    assert penalised.text == _generate_greedy(tiny_model_dir, "The dragon slept", 30, **changes)
    assert plain.text != penalised.text


def _generate_greedy(model_dir: Path, prompt: str, new_tokens: int, **kwargs: object) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            **kwargs,  # type: ignore[arg-type]
        )
    return str(tokenizer.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True))


async def test_stream_yields_growing_text(service: GenerationService) -> None:
    chunks = [
        chunk
        async for chunk in service.stream(
            GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=12))
        )
    ]
    assert len(chunks) >= 3
    for before, after in itertools.pairwise(chunks):
        assert after.text.startswith(before.text)
        assert after.text == before.text + after.delta
    assert chunks[-1].done and chunks[-1].finish_reason == "length"
    assert not any(c.done for c in chunks[:-1])
    result = await service.complete(
        GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=12))
    )
    assert chunks[-1].text == result.text


async def test_stream_coalesces_tokens_between_chunks(tiny_model_dir: Path) -> None:
    """With a long interval the first chunk goes out at once and the rest arrive joined, with
    the same final text as an uncoalesced stream."""
    request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=24))
    texts: dict[float, list[str]] = {}
    for interval in (0.0, 60.0):
        settings = GenerationSettings(
            model=str(tiny_model_dir), device="cpu", stream_interval_s=interval
        )
        async with build_generation_service(settings) as svc:
            texts[interval] = [chunk.text async for chunk in svc.stream(request)]
    every, joined = texts[0.0], texts[60.0]
    assert len(every) > 10
    assert len(joined) == 2  # the first chunk, then the final one with everything else
    assert joined[0] == every[0] and joined[-1] == every[-1]


async def test_stop_string_ends_text(service: GenerationService) -> None:
    free = await service.complete(
        GenerationRequest("The knight", GREEDY.replace(max_new_tokens=30))
    )
    stop = free.text[10:13]
    assert stop.strip(), free.text
    cut = free.text.index(stop)
    chunks = [
        c
        async for c in service.stream(
            GenerationRequest("The knight", GREEDY.replace(max_new_tokens=30, stop=(stop,)))
        )
    ]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].text == free.text[:cut]
    assert all(stop not in c.text for c in chunks)


async def test_cancelling_a_stream_frees_its_slot(tiny_model_dir: Path) -> None:
    settings = GenerationSettings(
        model=str(tiny_model_dir), device="cpu", max_batch_size=1, queue_size=1
    )
    long = GREEDY.replace(max_new_tokens=1000)
    async with build_generation_service(settings) as svc:
        stream = svc.stream(GenerationRequest("Once upon a time", long, channel_key="a"))
        await anext(stream)
        # the one slot is busy: B waits in the single queue place, C is refused
        waiting = asyncio.create_task(
            svc.complete(GenerationRequest("A dragon", GREEDY.replace(max_new_tokens=4)))
        )
        for _ in range(1000):
            if svc.stats().queue_depth:
                break
            await asyncio.sleep(0.005)
        with pytest.raises(Overloaded) as refused:
            await svc.complete(GenerationRequest("The fox", GREEDY.replace(max_new_tokens=4)))
        assert refused.value.position == 2
        assert isinstance(refused.value, UserFacingError)
        await stream.aclose()
        result = await waiting  # runs once the cancelled stream gave up its slot
        assert result.completion_tokens == 4
        await _wait_idle(svc)
        stats = svc.stats()
        assert stats.cancelled == 1 and stats.rejected == 1
        assert stats.generated_tokens < 1000


async def test_deadline_raises_timeout(service: GenerationService) -> None:
    request = GenerationRequest(
        "Once upon a time", GREEDY.replace(max_new_tokens=1000), deadline_s=0.05
    )
    with pytest.raises(GenerationTimeout):
        await service.complete(request)
    await _wait_idle(service)
    assert service.stats().timed_out == 1
    ok = await service.complete(GenerationRequest("A", GREEDY.replace(max_new_tokens=2)))
    assert ok.completion_tokens == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"temperature": -0.1},
        {"top_p": 0.0},
        {"top_k": -1},
        {"max_new_tokens": 0},
        {"repetition_penalty": 0.0},
        {"no_repeat_ngram_size": -2},
        {"stop": ("",)},
        {"seed": -5},
        {"temperature": float("nan")},
    ],
)
def test_invalid_sampling_params_are_rejected(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        SamplingParams(**changes)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert next(iter(changes)) in str(caught.value)


def test_invalid_requests_are_rejected() -> None:
    with pytest.raises(InvalidRequest):
        GenerationRequest("x", deadline_s=0)
    with pytest.raises(InvalidRequest):
        GenerationRequest(())
    with pytest.raises(InvalidRequest):
        ChatMessage("robot", "hi")  # type: ignore[arg-type]
    assert SamplingParams(stop="END").stop == ("END",)  # type: ignore[arg-type]


async def test_prompt_too_long_is_refused(service: GenerationService) -> None:
    prompt = "the dragon slept " * 1000
    assert service.count_tokens(prompt) > service.max_context_tokens
    with pytest.raises(PromptTooLong) as caught:
        await service.complete(GenerationRequest(prompt))
    assert caught.value.limit == service.max_context_tokens - 1
    ok = await service.complete(GenerationRequest("A", GREEDY.replace(max_new_tokens=2)))
    assert ok.completion_tokens == 2


async def test_event_loop_keeps_running_during_generation(service: GenerationService) -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    await asyncio.gather(
        *(
            service.complete(GenerationRequest(f"Story {i}", GREEDY.replace(max_new_tokens=150)))
            for i in range(4)
        )
    )
    done.set()
    await task
    assert ticks - start >= 10


async def test_chat_prompts(tiny_model_dir: Path, tiny_chat_model_dir: Path) -> None:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "Tell a story."))
    params = GREEDY.replace(max_new_tokens=3)
    chat_settings = GenerationSettings(model=str(tiny_chat_model_dir), device="cpu")
    async with build_generation_service(chat_settings) as chat:
        assert chat.is_chat_model
        result = await chat.complete(GenerationRequest(messages, params))
        rendered = "<|system|>Be brief.</s><|user|>Tell a story.</s><|assistant|>"
        assert result.prompt_tokens == chat.count_tokens(rendered)
    base_settings = GenerationSettings(model=str(tiny_model_dir), device="cpu")
    async with build_generation_service(base_settings) as base:
        assert not base.is_chat_model
        result = await base.complete(GenerationRequest(messages, params))
        flat = "Be brief.\n\nUser: Tell a story.\nAssistant:"
        assert result.prompt_tokens == base.count_tokens(flat)
        assert result.completion_tokens == 3


async def test_breaking_out_of_a_stream_cancels_it(service: GenerationService) -> None:
    request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=1000))
    async for chunk in service.stream(request):
        assert chunk.text
        break
    await _wait_idle(service)
    stats = service.stats()
    assert stats.cancelled == 1 and stats.completed == 0
    assert stats.generated_tokens < 1000


async def test_requests_join_and_leave_a_running_batch_exactly(
    service: GenerationService, tiny_model_dir: Path
) -> None:
    long_request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=200))
    stream = service.stream(long_request)
    first = await anext(stream)  # the long row is decoding now
    joiner = GenerationRequest(
        "The wizard opened the old book and read", GREEDY.replace(max_new_tokens=5)
    )
    joined = await service.complete(joiner)  # prefilled, merged, finished, pruned
    last = first
    async for chunk in stream:
        last = chunk
    assert joined.text == _generate_greedy(tiny_model_dir, joiner.prompt, 5)  # type: ignore[arg-type]
    assert last.text == _generate_greedy(tiny_model_dir, "Once upon a time", 200)
    assert service.stats().mean_batch_size > 1.0  # they really shared steps


async def test_close_cancels_running_and_waiting_requests(tiny_model_dir: Path) -> None:
    settings = GenerationSettings(model=str(tiny_model_dir), device="cpu", max_batch_size=1)
    svc = build_generation_service(settings)
    await svc.start()
    long = GREEDY.replace(max_new_tokens=1000)
    stream = svc.stream(GenerationRequest("Once upon a time", long, channel_key="a"))
    await anext(stream)
    waiting = asyncio.create_task(svc.complete(GenerationRequest("A dragon", long)))
    for _ in range(1000):
        if svc.stats().queue_depth:
            break
        await asyncio.sleep(0.005)
    await svc.close()
    with pytest.raises(GenerationCancelled):
        async for _ in stream:
            pass
    with pytest.raises(GenerationCancelled):
        await waiting
    with pytest.raises(GenerationCancelled):
        await svc.complete(GenerationRequest("late", GREEDY.replace(max_new_tokens=2)))


async def test_start_fails_fast_when_the_decoder_cannot_be_built(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the weights load (building the decoder) reaches ``start()``: it raises
    instead of waiting forever."""
    import bot.generation.local as local

    def broken_decoder(model: Any, *, fast: bool) -> Any:
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(local, "pick_decoder", broken_decoder)
    settings = GenerationSettings(model=str(tiny_model_dir), device="cpu")
    service = build_generation_service(settings)
    with pytest.raises(Exception, match="decoder exploded"):
        await asyncio.wait_for(service.start(), timeout=20)
    await service.close()


async def test_results_carry_the_models_mean_logprob(service: GenerationService) -> None:
    """The mean log-probability is the model's own: greedy picks score at least as high as
    sampled ones on the same prompt, and every value is a log-probability (<= 0)."""
    prompt = "The knight rode through the rain"
    greedy = await service.complete(
        GenerationRequest(prompt=prompt, params=dataclasses.replace(GREEDY, max_new_tokens=12))
    )
    hot = SamplingParams(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=12, ignore_eos=True)
    sampled = [
        await service.complete(
            GenerationRequest(prompt=prompt, params=dataclasses.replace(hot, seed=seed))
        )
        for seed in range(4)
    ]
    assert greedy.mean_logprob is not None and greedy.mean_logprob <= 0.0
    values = [r.mean_logprob for r in sampled]
    assert all(v is not None and v <= 0.0 for v in values)
    assert greedy.mean_logprob > sum(v for v in values if v is not None) / len(values)
