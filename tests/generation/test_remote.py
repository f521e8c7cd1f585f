"""The OpenAI-compatible server and the remote backend, talking over real loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bot.errors import BackendError, InvalidRequest, PromptTooLong
from bot.generation import (
    ChatMessage,
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.server import create_app

GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, ignore_eos=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def local(tiny_model_dir: Path) -> AsyncIterator[GenerationService]:
    settings = GenerationSettings(model=str(tiny_model_dir), device="cpu", metrics=True)
    async with build_generation_service(settings) as svc:
        yield svc


@pytest.fixture
async def server_url(local: GenerationService) -> AsyncIterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(local), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task


@pytest.fixture
async def remote(server_url: str, tiny_model_dir: Path) -> AsyncIterator[GenerationService]:
    settings = GenerationSettings(
        backend="openai", base_url=server_url, model=str(tiny_model_dir), retries=0
    )
    async with build_generation_service(settings) as svc:
        yield svc


async def test_remote_streams_from_a_real_server(
    remote: GenerationService, local: GenerationService
) -> None:
    request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=10))
    chunks = [chunk async for chunk in remote.stream(request)]
    assert len(chunks) >= 2 and chunks[-1].done
    for before, after in itertools.pairwise(chunks):
        assert after.text.startswith(before.text)
    expected = await local.complete(request)
    assert chunks[-1].text == expected.text
    result = await remote.complete(request)
    assert result.text == expected.text
    assert result.completion_tokens == 10 and result.finish_reason == "length"


async def test_remote_runs_requests_concurrently(remote: GenerationService) -> None:
    params = GREEDY.replace(max_new_tokens=5)
    results = await asyncio.gather(
        *(
            remote.complete(GenerationRequest(f"Tale {i}", params, channel_key=f"c{i}"))
            for i in range(4)
        )
    )
    assert [r.completion_tokens for r in results] == [5, 5, 5, 5]


async def test_remote_chat_messages_are_flattened_for_a_base_model(
    remote: GenerationService, local: GenerationService
) -> None:
    messages = (ChatMessage("user", "Tell a story."),)
    remote_result = await remote.complete(
        GenerationRequest(messages, GREEDY.replace(max_new_tokens=4))
    )
    local_result = await local.complete(
        GenerationRequest(messages, GREEDY.replace(max_new_tokens=4))
    )
    assert remote_result.text == local_result.text


async def test_chat_endpoint_streams_sse(server_url: str) -> None:
    body = {
        "model": "x",
        "stream": True,
        "max_tokens": 4,
        "temperature": 0,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", f"{server_url}/chat/completions", json=body) as resp,
    ):
        assert resp.status_code == 200
        lines = [line async for line in resp.aiter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason": "length"' in lines[-2]


async def test_server_errors_are_clear(server_url: str, remote: GenerationService) -> None:
    async with httpx.AsyncClient() as client:
        bad = await client.post(f"{server_url}/completions", json={"prompt": "x", "top_p": 0})
        assert bad.status_code == 400
        assert "top_p" in bad.json()["error"]["message"]
        models = await client.get(f"{server_url}/models")
        assert models.json()["data"][0]["max_model_len"] == 1024
        health = await client.get(server_url.removesuffix("/v1") + "/health")
        assert health.json()["status"] == "ok"
        metrics = await client.get(server_url.removesuffix("/v1") + "/metrics")
        assert "storyloom_generation_tokens_total" in metrics.text
    too_long = "the dragon slept " * 500  # fits the client's limit, not the server's model
    assert remote.max_context_tokens > remote.count_tokens(too_long) > 1024
    with pytest.raises(PromptTooLong):  # the server's refusal keeps its type
        await remote.complete(GenerationRequest(too_long, GREEDY.replace(max_new_tokens=2)))
    async with httpx.AsyncClient() as client:
        body = {"prompt": too_long, "stream": True, "max_tokens": 2}
        refused = await client.post(f"{server_url}/completions", json=body)
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "PromptTooLong"
    with pytest.raises(InvalidRequest):
        GREEDY.replace(top_p=0.0)


async def test_unreachable_server_is_a_backend_error() -> None:
    settings = GenerationSettings(
        backend="openai",
        base_url=f"http://127.0.0.1:{_free_port()}/v1",
        retries=1,
        retry_backoff_s=0.01,
    )
    async with build_generation_service(settings) as svc:
        with pytest.raises(BackendError, match="unreachable"):
            await svc.complete(GenerationRequest("x", GREEDY.replace(max_new_tokens=2)))
