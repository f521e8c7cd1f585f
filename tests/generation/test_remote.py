"""The OpenAI-compatible server and the remote backend, talking over real loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import BackendError, InvalidRequest, Overloaded, PromptTooLong
from bot.generation import (
    ChatMessage,
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)
from bot.generation.server import create_app
from tests.generation.helpers import Gate, serving, until

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
    async with serving(create_app(local)) as url:
        yield url


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


class FailFirst:
    """ASGI middleware: the first ``count`` POSTs get ``status`` (with ``headers``), the rest
    reach the real server behind it."""

    def __init__(self, app: Any, *, count: int, status: int, headers: dict[str, str]) -> None:
        self.app, self.count, self.status, self.headers = app, count, status, headers
        self.posts = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
            if self.posts <= self.count:
                from starlette.responses import JSONResponse

                body = {"error": {"message": "warming up", "type": "Unavailable"}}
                response = JSONResponse(body, status_code=self.status, headers=self.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def test_retry_after_is_honoured(local: GenerationService, tiny_model_dir: Path) -> None:
    app = FailFirst(create_app(local), count=2, status=503, headers={"Retry-After": "0"})
    async with serving(app) as url:
        # a backoff far past the deadline: only the server's Retry-After lets the retries happen
        settings = GenerationSettings(
            backend="openai", base_url=url, model=str(tiny_model_dir), retry_backoff_s=1000.0
        )
        async with build_generation_service(settings) as svc:
            request = GenerationRequest("Once", GREEDY.replace(max_new_tokens=3), deadline_s=60)
            result = await svc.complete(request)
        assert result.completion_tokens == 3 and app.posts == 3
        without = FailFirst(create_app(local), count=5, status=503, headers={})
    async with serving(without) as url:
        settings = GenerationSettings(backend="openai", base_url=url, retry_backoff_s=1000.0)
        async with build_generation_service(settings) as svc:
            with pytest.raises(BackendError, match="HTTP 503"):  # the backoff would pass it
                await svc.complete(
                    GenerationRequest("Once", GREEDY.replace(max_new_tokens=3), deadline_s=60)
                )
        assert without.posts == 1


async def test_a_full_server_queue_is_overloaded_with_its_position(
    local: GenerationService, tiny_model_dir: Path
) -> None:
    # The server's service has one slot and room for one waiting request; its one running
    # request is held at a gate in front of the model server behind it.
    gate = Gate(create_app(local))
    async with serving(gate) as model_url:
        small = GenerationSettings(
            backend="openai", base_url=model_url, max_batch_size=1, queue_size=1
        )
        async with build_generation_service(small) as busy, serving(create_app(busy)) as url:
            params = GREEDY.replace(max_new_tokens=2)
            running = asyncio.create_task(busy.complete(GenerationRequest("Once", params)))
            await until(lambda: gate.waiting == 1)
            waiting = asyncio.create_task(busy.complete(GenerationRequest("Tale", params)))
            await until(lambda: busy.stats().queue_depth == 1)
            settings = GenerationSettings(
                backend="openai", base_url=url, model=str(tiny_model_dir), retries=0
            )
            async with build_generation_service(settings) as svc:
                with pytest.raises(Overloaded) as caught:
                    await svc.complete(GenerationRequest("x", params))
            assert caught.value.position == 2
            gate.open.set()
            results = await asyncio.gather(running, waiting)
            assert [r.completion_tokens for r in results] == [2, 2]


async def test_closing_a_stream_stops_the_server(
    remote: GenerationService, local: GenerationService
) -> None:
    request = GenerationRequest("Once upon a time", GREEDY.replace(max_new_tokens=5000))
    assert local.max_context_tokens < 5000  # it would run until the context is full
    stream = remote.stream(request)
    first = await anext(stream)
    assert first.text and not first.done
    await stream.aclose()  # closes the HTTP response: the server cancels its request
    await until(lambda: local.stats().cancelled == 1 and not local.stats().active)
    assert local.stats().completed == 0


async def test_banned_words_reach_the_server(
    remote: GenerationService, local: GenerationService
) -> None:
    params = GREEDY.replace(max_new_tokens=24)
    free = await remote.complete(GenerationRequest("Once upon a time", params))
    word = re.findall(r"[A-Za-z]{3,}", free.text)[0]
    banned = await remote.complete(
        GenerationRequest("Once upon a time", params.replace(banned_words=(word,)))
    )
    pattern = rf"(?<![A-Za-z]){word}(?![A-Za-z])"
    assert re.search(pattern, free.text, re.IGNORECASE)
    assert not re.search(pattern, banned.text, re.IGNORECASE)
    local_banned = await local.complete(
        GenerationRequest("Once upon a time", params.replace(banned_words=(word,)))
    )
    assert banned.text == local_banned.text  # bad_words went through as the words themselves
