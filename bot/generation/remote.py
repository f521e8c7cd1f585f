"""The remote backend: any OpenAI-compatible server, through the ``openai`` SDK (streaming).

Plain-text prompts go to ``/v1/completions``; chat prompts go to ``/v1/chat/completions`` when the
remote model is a chat model (``remote_chat``), else they are flattened to text. The SDK's typed
errors are mapped into :mod:`bot.errors`: a 429 keeps its queue position (:class:`Overloaded`), a
server's ``PromptTooLong`` its type. Connection errors and 502/503/504 (and a 429 that says when
to come back) are retried before any text arrived, after the server's ``Retry-After`` or an
exponential backoff, never past the request's deadline; the SDK's own retries are off so that
this one policy applies. Closing a stream (a cancelled or expired job) closes the HTTP response,
which tells the server to stop generating.

Banned words go out as ``logit_bias`` -100 for the single-token bans (needs a local copy of the
tokenizer, ``model``) and, where the server takes extensions (vLLM, ``storyloom serve-model``),
as ``bad_words``. A server that refuses either field gets requests without it from then on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import openai

from bot.errors import (
    BackendError,
    GenerationCancelled,
    GenerationError,
    GenerationTimeout,
    Overloaded,
    PromptTooLong,
)
from bot.generation.banned import compile_banned, first_tokens, logit_bias
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
_REFUSED_FIELD_WORDS = ("unexpected", "extra", "unknown", "unsupported", "not supported")


class _Retryable(Exception):
    """A failure worth another try; ``final`` is what the caller gets when tries run out."""

    def __init__(self, final: GenerationError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


class _Downgrade(Exception):
    """The server refused optional fields: send the request again without them."""


class OpenAIBackend:
    """Sends jobs to an OpenAI-compatible server, at most ``max_batch_size`` at a time."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self._queue: FairQueue | None = None
        self._metrics: ServiceMetrics | None = None
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: dict[Job, asyncio.Task[None]] = {}
        self._tokenizer: Any = None
        self._name = settings.remote_model or settings.model or "default"
        self._extensions = settings.remote_extensions
        self._logit_bias = settings.suppress_banned_words

    async def start(self, queue: FairQueue, metrics: ServiceMetrics) -> None:
        settings = self._settings
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url.rstrip("/"),
            api_key=key or "unused",  # local servers take any key; the SDK insists on one
            organization=None,
            project=None,
            max_retries=0,  # one retry policy: ours (see the module docstring)
            timeout=openai.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        )
        if settings.model:  # a local copy of the tokenizer: exact counts, logit_bias bans
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
            await self._client.close()

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
                task.cancel()  # closes the HTTP stream: the server stops generating

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
        bias = await self._bias_for(job)
        attempt = 0
        while True:
            scanner = StopScanner(job.request.params.stop)
            try:
                return await self._stream_once(job, scanner, bias)
            except _Downgrade:
                continue
            except _Retryable as exc:
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else settings.retry_backoff_s * 2**attempt
                )
                late = job.deadline is not None and time.monotonic() + delay >= job.deadline
                if scanner.text or attempt >= settings.retries or late:
                    raise exc.final from exc
                attempt += 1
                log.warning("generation server: %s; retry %d in %.2fs", exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _bias_for(self, job: Job) -> dict[str, float] | None:
        """``logit_bias`` for the job's banned words (-100) and favoured words' first tokens
        (``favour``), compiled on a thread and cached; banned tokens win."""
        params = job.request.params
        if not (self._logit_bias and self._tokenizer is not None):
            return None
        bias: dict[str, float] = {}
        if params.favour and params.favoured_words:
            lifted = await asyncio.to_thread(first_tokens, self._tokenizer, params.favoured_words)
            bias.update({str(token): params.favour for token in sorted(lifted)[:100]})
        if params.banned_words:
            bans = await asyncio.to_thread(compile_banned, self._tokenizer, params.banned_words)
            bias.update(logit_bias(bans))
        return bias or None

    async def _stream_once(
        self, job: Job, scanner: StopScanner, bias: dict[str, float] | None
    ) -> GenerationResult:
        assert self._metrics is not None
        chat = job.prompt.messages is not None
        reason: FinishReason = "length"
        completion_tokens = 0
        usage: Any = None
        try:
            stream = await self._create(job, bias if self._logit_bias else None)
            async with stream:
                async for payload in stream:
                    usage = getattr(payload, "usage", None) or usage
                    for choice in payload.choices or []:
                        delta = _delta_text(choice, chat)
                        if delta:
                            completion_tokens += 1
                            self._metrics.record_step(1, 1)
                            shown = scanner.feed(delta)
                            if shown and job.wants_chunks:
                                post([(job, StreamChunk(delta=shown, text=scanner.shown))])
                        if choice.finish_reason:
                            reason = "length" if choice.finish_reason == "length" else "stop"
                    if scanner.stopped:
                        reason = "stop"
                        break
        except openai.APIStatusError as exc:
            self._refused(exc, bias)
            raise _mapped(exc) from exc
        except openai.APITimeoutError as exc:
            raise BackendError("the generation server did not answer in time") from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            final = BackendError(f"the generation server is unreachable: {cause}")
            raise _Retryable(final) from exc
        except openai.APIError as exc:  # an error event inside the stream
            raise BackendError(f"the generation server failed: {exc.message}") from exc
        shown = scanner.flush()
        if shown and job.wants_chunks:
            post([(job, StreamChunk(delta=shown, text=scanner.shown))])
        return GenerationResult(
            text=scanner.text,
            finish_reason=reason,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or job.prompt.prompt_tokens),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or completion_tokens),
        )

    def _refused(self, exc: openai.APIStatusError, bias: dict[str, float] | None) -> None:
        """Raise :class:`_Downgrade` when a strict server refused a field we can leave out."""
        if exc.status_code not in (400, 422):
            return
        message = _server_message(exc).lower()
        if not any(word in message for word in _REFUSED_FIELD_WORDS):
            return
        if self._extensions:
            log.warning(
                "the generation server refuses sampling extensions; "
                "sending only standard OpenAI fields from now on"
            )
            self._extensions = False
            raise _Downgrade()
        if bias and self._logit_bias and "logit_bias" in message:
            log.warning("the generation server refuses logit_bias; banned words go unmasked")
            self._logit_bias = False
            raise _Downgrade()

    async def _create(self, job: Job, bias: dict[str, float] | None) -> Any:
        """Open the streamed completion for ``job`` (chat or plain text)."""
        assert self._client is not None
        params = job.request.params
        kwargs: dict[str, Any] = {
            "model": self._name,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": job.prompt.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop[:4])
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if job.channel_key:
            kwargs["user"] = job.channel_key
        if bias:  # as floats: transformers serve refuses integer values (its sequence_bias)
            kwargs["logit_bias"] = {token: float(value) for token, value in bias.items()}
        if self._extensions:
            kwargs["extra_body"] = self._extension_fields(job)
        if job.prompt.messages is not None:
            messages: list[Any] = [{"role": r, "content": c} for r, c in job.prompt.messages]
            return await self._client.chat.completions.create(messages=messages, **kwargs)
        return await self._client.completions.create(prompt=job.prompt.text, **kwargs)

    def _extension_fields(self, job: Job) -> dict[str, Any]:
        """Fields vLLM and our own server understand; strict servers refuse them."""
        params = job.request.params
        body: dict[str, Any] = {}
        if params.top_k:
            body["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty
        if params.no_repeat_ngram_size:
            body["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.ignore_eos:
            body["ignore_eos"] = True
        if params.banned_words and self._settings.suppress_banned_words:
            body["bad_words"] = list(params.banned_words)
        return body


def _delta_text(choice: Any, chat: bool) -> str:
    if chat:
        delta = getattr(choice, "delta", None)
        return str(getattr(delta, "content", None) or "")
    return str(getattr(choice, "text", None) or "")


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """The server's ``Retry-After`` (seconds, or ``retry-after-ms``), when it sent one."""
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from inference servers; fall back to the backoff
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _error_fields(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return dict(body["error"])
    return dict(body) if isinstance(body, dict) else {}


def _mapped(exc: openai.APIStatusError) -> Exception:
    """The error tree's view of an HTTP error (a :class:`_Retryable` when worth another try)."""
    status = exc.status_code
    fields = _error_fields(exc)
    retry_after = _retry_after(exc)
    if status == 429:
        position = fields.get("position")
        overloaded = Overloaded(
            position=position if isinstance(position, int) else 1, estimated_wait_s=retry_after
        )
        return overloaded if retry_after is None else _Retryable(overloaded, retry_after)
    if status in _RETRY_STATUS:
        final = BackendError(
            f"the generation server is unreachable (HTTP {status}): {_server_message(exc)}"
        )
        return _Retryable(final, retry_after)
    if fields.get("type") == "PromptTooLong":
        return PromptTooLong(prompt_tokens=0, limit=0)
    return BackendError(
        f"the generation server refused the request (HTTP {status}): {_server_message(exc)}"
    )


def _server_message(exc: openai.APIStatusError) -> str:
    fields = _error_fields(exc)
    message = fields.get("message") or fields.get("detail") or exc.message
    return str(message)[:200]
