"""The remote backend: any OpenAI-compatible server over HTTP, streaming with SSE.

Plain-text prompts go to ``/v1/completions``; chat prompts go to ``/v1/chat/completions`` when the
remote model is a chat model (``remote_chat``), else they are flattened to text. Connection
errors (and 502/503/504 before any text arrived) are retried with backoff; other HTTP errors
become a :class:`BackendError` carrying the server's message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bot.errors import (
    BackendError,
    GenerationCancelled,
    GenerationError,
    GenerationTimeout,
    Overloaded,
    PromptTooLong,
)
from bot.generation.jobs import Event, Job, PreparedPrompt, post
from bot.generation.metrics import ServiceMetrics
from bot.generation.prompts import flatten_messages
from bot.generation.scheduler import FairQueue
from bot.generation.settings import GenerationSettings
from bot.generation.text import StopScanner
from bot.generation.types import FinishReason, GenerationRequest, GenerationResult, StreamChunk

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({502, 503, 504})
_WATCH_S = 0.05


class _Retryable(Exception):
    pass


class _Downgrade(Exception):
    """The server refused our extension fields: send the request again without them."""


class OpenAIBackend:
    """Sends jobs to an OpenAI-compatible server, at most ``max_batch_size`` at a time."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._client: httpx.AsyncClient | None = None
        self._queue: FairQueue | None = None
        self._metrics: ServiceMetrics | None = None
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: dict[Job, asyncio.Task[None]] = {}
        self._tokenizer: Any = None
        self._name = settings.remote_model or settings.model or "default"
        self._extensions = settings.remote_extensions

    async def start(self, queue: FairQueue, metrics: ServiceMetrics) -> None:
        settings = self._settings
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        )
        if settings.model:  # a local copy of the tokenizer makes count_tokens exact
            try:
                from transformers import AutoTokenizer

                self._tokenizer = await asyncio.to_thread(
                    AutoTokenizer.from_pretrained, settings.model
                )
            except (OSError, ValueError):
                log.info("no local tokenizer for %s; token counts are estimates", settings.model)
        self._queue, self._metrics = queue, metrics
        loop = asyncio.get_running_loop()
        queue.add_listener(lambda: loop.call_soon_threadsafe(self._wake.set))
        self._dispatcher = asyncio.create_task(self._dispatch(), name="generation-remote")

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # -- the service's view ---------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self._running)

    @property
    def is_chat_model(self) -> bool:
        return bool(self._settings.remote_chat)

    @property
    def max_context_tokens(self) -> int:
        return self._settings.remote_context_tokens

    @property
    def model_name(self) -> str:
        return self._name

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is not None:
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return math.ceil(len(text.encode()) / 4)  # a common estimate for BPE tokenizers

    def prepare(self, request: GenerationRequest) -> PreparedPrompt:
        messages = None
        if isinstance(request.prompt, tuple):
            text = flatten_messages(request.prompt)
            if self.is_chat_model:
                messages = tuple((m.role, m.content) for m in request.prompt)
        else:
            text = request.prompt
        tokens = self.count_tokens(text)
        room = self.max_context_tokens - tokens
        if room < 1:
            raise PromptTooLong(prompt_tokens=tokens, limit=self.max_context_tokens - 1)
        return PreparedPrompt(
            text=text,
            token_ids=(),
            prompt_tokens=tokens,
            max_new_tokens=min(request.params.max_new_tokens, room),
            messages=messages,
        )

    # -- dispatching ------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            self._wake.clear()
            free = self._settings.max_batch_size - len(self._running)
            if free > 0:
                for job in self._queue.take(free):
                    task = asyncio.create_task(self._serve(job))
                    self._running[job] = task
            if self._metrics is not None:
                self._metrics.set_load(self._queue.depth, len(self._running))
            self._reap_dead()
            try:
                async with asyncio.timeout(_WATCH_S if self._running else None):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _reap_dead(self) -> None:
        for job, task in list(self._running.items()):
            if job.is_dead() and not task.done():
                task.cancel()

    async def _serve(self, job: Job) -> None:
        assert self._queue is not None
        try:
            event: Event = await self._generate(job)
        except asyncio.CancelledError:
            event = (
                GenerationCancelled("cancelled")
                if job.cancelled.is_set()
                else (GenerationTimeout())
            )
        except GenerationError as exc:
            event = exc
        except Exception as exc:
            log.exception("remote generation failed")
            event = BackendError(f"the generation server failed: {exc}")
        finally:
            self._running.pop(job, None)
            self._queue.release(job)
        post([(job, event)])

    async def _generate(self, job: Job) -> GenerationResult:
        settings = self._settings
        attempt = 0
        while True:
            scanner = StopScanner(job.request.params.stop)
            try:
                return await self._stream_once(job, scanner)
            except _Downgrade:
                continue
            except _Retryable as exc:
                if scanner.text or attempt >= settings.retries:
                    raise BackendError(f"the generation server is unreachable: {exc}") from exc
                attempt += 1
                delay = settings.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "generation server unreachable (%s); retry %d in %.1fs", exc, attempt, delay
                )
                await asyncio.sleep(delay)

    async def _stream_once(self, job: Job, scanner: StopScanner) -> GenerationResult:
        assert self._client is not None and self._metrics is not None
        chat = job.prompt.messages is not None
        sent_extensions = self._extensions
        path, body = self._body(job)
        reason: FinishReason = "length"
        completion_tokens = 0
        usage: dict[str, Any] = {}
        try:
            async with self._client.stream("POST", path, json=body) as response:
                if response.status_code in _RETRY_STATUS:
                    raise _Retryable(f"HTTP {response.status_code}")
                if response.status_code in (400, 422) and sent_extensions:
                    await response.aread()
                    if "unexpected" in response.text.lower() or "extra" in response.text.lower():
                        log.warning(
                            "the generation server refuses sampling extensions; "
                            "sending only standard OpenAI fields from now on"
                        )
                        self._extensions = False
                        raise _Downgrade()
                if response.status_code >= 400:
                    await response.aread()
                    _raise_mapped(response)
                    raise BackendError(
                        f"the generation server refused the request (HTTP "
                        f"{response.status_code}): {_server_message(response)}"
                    )
                async for payload in _sse_payloads(response):
                    if "error" in payload:
                        raise BackendError(f"the generation server failed: {payload['error']}")
                    usage = payload.get("usage") or usage
                    for choice in payload.get("choices") or []:
                        delta = _delta_text(choice, chat)
                        if delta:
                            completion_tokens += 1
                            self._metrics.record_step(1, 1)
                            shown = scanner.feed(delta)
                            if shown and job.wants_chunks:
                                post([(job, StreamChunk(delta=shown, text=scanner.shown))])
                        if choice.get("finish_reason"):
                            reason = "length" if choice["finish_reason"] == "length" else "stop"
                    if scanner.stopped:
                        reason = "stop"
                        break
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
        ) as exc:
            raise _Retryable(str(exc) or type(exc).__name__) from exc
        except httpx.TimeoutException as exc:
            raise BackendError("the generation server did not answer in time") from exc
        shown = scanner.flush()
        if shown and job.wants_chunks:
            post([(job, StreamChunk(delta=shown, text=scanner.shown))])
        return GenerationResult(
            text=scanner.text,
            finish_reason=reason,
            prompt_tokens=int(usage.get("prompt_tokens") or job.prompt.prompt_tokens),
            completion_tokens=int(usage.get("completion_tokens") or completion_tokens),
        )

    def _body(self, job: Job) -> tuple[str, dict[str, Any]]:
        params = job.request.params
        body: dict[str, Any] = {
            "model": self._name,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": job.prompt.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop[:4])
        if params.seed is not None:
            body["seed"] = params.seed
        if job.channel_key:
            body["user"] = job.channel_key
        if self._extensions:
            self._add_extensions(job, body)
        if job.prompt.messages is not None:
            body["messages"] = [{"role": r, "content": c} for r, c in job.prompt.messages]
            return "/chat/completions", body
        body["prompt"] = job.prompt.text
        return "/completions", body

    @staticmethod
    def _add_extensions(job: Job, body: dict[str, Any]) -> None:
        """Fields vLLM and our own server understand; strict servers refuse them."""
        params = job.request.params
        if params.top_k:
            body["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty
        if params.no_repeat_ngram_size:
            body["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.ignore_eos:
            body["ignore_eos"] = True


async def _sse_payloads(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise BackendError(f"the generation server sent bad data: {data[:100]!r}") from exc
        if isinstance(payload, dict):
            yield payload


def _delta_text(choice: dict[str, Any], chat: bool) -> str:
    if chat:
        return str((choice.get("delta") or {}).get("content") or "")
    return str(choice.get("text") or "")


def _raise_mapped(response: httpx.Response) -> None:
    """Errors the server shares with us keep their type: busy, timeout, prompt too long."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return
    if not isinstance(error, dict):
        return
    if response.status_code == 429:
        position = error.get("position")
        raise Overloaded(position=position if isinstance(position, int) else 1)
    if response.status_code == 504:
        raise GenerationTimeout()
    if error.get("type") == "PromptTooLong":
        raise PromptTooLong(prompt_tokens=0, limit=0)


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(error or body)[:200]
