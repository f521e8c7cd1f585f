"""The remote backend against a real third-party server: ``transformers serve`` on loopback."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.generation import (
    ChatMessage,
    GenerationRequest,
    GenerationService,
    GenerationSettings,
    SamplingParams,
    build_generation_service,
)

pytestmark = pytest.mark.slow

_CLI = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which(
    "transformers"
)


@pytest.fixture(scope="module")
def transformers_server() -> Iterator[str]:
    if _CLI is None:
        pytest.skip("the transformers CLI is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            _CLI,
            "serve",  # no forced model: each request names its own (a local path)
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"transformers serve exited: {err[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("transformers serve did not start in 60 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not leave it running
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
async def remote(
    transformers_server: str, tiny_model_dir: Path
) -> AsyncIterator[GenerationService]:
    settings = GenerationSettings(
        backend="openai",
        base_url=transformers_server,
        remote_model=str(tiny_model_dir),
        model=str(tiny_model_dir),
    )
    async with build_generation_service(settings) as svc:
        yield svc


async def test_streams_from_transformers_serve(remote: GenerationService) -> None:
    # top_k / repetition_penalty are refused by this strict server: the backend drops them
    params = SamplingParams(temperature=0.0, top_k=5, max_new_tokens=6)
    chunks = [c async for c in remote.stream(GenerationRequest("Once upon a time", params))]
    assert chunks[-1].done and chunks[-1].finish_reason in ("length", "stop")
    for before, after in itertools.pairwise(chunks):
        assert after.text.startswith(before.text)
    results = await asyncio.gather(
        *(remote.complete(GenerationRequest("Once upon a time", params)) for _ in range(2))
    )
    assert results[0].text == results[1].text == chunks[-1].text
    assert results[0].prompt_tokens == remote.count_tokens("Once upon a time")


async def test_chat_completions_take_logit_bias(
    transformers_server: str, tiny_chat_model_dir: Path
) -> None:
    """transformers serve applies logit_bias on /v1/chat/completions (not on /v1/completions):
    the backend's single-token bans keep a word out of a chat model's answer."""
    from transformers import AutoTokenizer

    settings = GenerationSettings(
        backend="openai",
        base_url=transformers_server,
        remote_model=str(tiny_chat_model_dir),
        model=str(tiny_chat_model_dir),
        remote_chat=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model_dir)
    prompt = (ChatMessage("user", "Tell me about the fox and the river."),)
    params = SamplingParams(temperature=0.0, max_new_tokens=24)
    async with build_generation_service(settings) as remote:
        free = await remote.complete(GenerationRequest(prompt, params))
        # a word the model wrote that is one token: logit_bias can ban it
        words = [
            w
            for w in dict.fromkeys(re.findall(r"[A-Za-z]{3,}", free.text))
            if len(tokenizer.encode(" " + w, add_special_tokens=False)) == 1
            or len(tokenizer.encode(w, add_special_tokens=False)) == 1
        ]
        assert words, free.text
        banned = await remote.complete(
            GenerationRequest(prompt, params.replace(banned_words=(words[0],)))
        )
    pattern = rf"(?<![A-Za-z]){words[0]}(?![A-Za-z])"
    assert re.search(pattern, free.text, re.IGNORECASE)
    assert not re.search(pattern, banned.text, re.IGNORECASE), (words[0], banned.text)
