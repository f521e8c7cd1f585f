"""The one generation service a process shares: admission, fairness, deadlines, streaming."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator

from bot.errors import BackendError, GenerationCancelled, GenerationError, GenerationTimeout
from bot.generation.backend import Backend
from bot.generation.jobs import Event, Job
from bot.generation.metrics import ServiceMetrics
from bot.generation.queue_watch import current_watch
from bot.generation.scheduler import FairQueue
from bot.generation.settings import GenerationSettings
from bot.generation.types import (
    GenerationRequest,
    GenerationResult,
    ServiceStats,
    StreamChunk,
)

log = logging.getLogger(__name__)

_INLINE_PROMPT_CHARS = 2000
"""Prompts up to this size are tokenized on the event loop (well under a millisecond); longer
ones on a thread. Inline preparation also lets requests sent together reach the queue together,
so they share their first batch."""


class GenerationService:
    """Generates text for every plugin and channel through one backend.

    Requests wait in a bounded queue (``Overloaded`` when full), are served fairly across channel
    keys, honour their deadline (``GenerationTimeout``) and stop as soon as their caller stops
    listening (closing a stream cancels the request within one decoding step). Requests made
    under :func:`bot.generation.queue_watch.watch_queue` report their queue position as it
    changes.
    """

    def __init__(self, settings: GenerationSettings, backend: Backend) -> None:
        self._settings = settings
        self._backend = backend
        self.metrics = ServiceMetrics(prometheus=settings.metrics)
        self._queue = FairQueue(
            settings.queue_size,
            settings.per_channel_limit,
            estimate_wait=self._estimate_wait,
            slots=settings.max_batch_size,
        )
        self._started = False
        self._closed = False

    @property
    def settings(self) -> GenerationSettings:
        return self._settings

    async def start(self) -> None:
        """Load the model (or connect) and start serving."""
        if self._started:
            return
        await self._backend.start(self._queue, self.metrics)
        self._started = True
        log.info("generation service ready: %s", self._backend.model_name)

    async def close(self) -> None:
        """Stop: waiting requests fail with GenerationCancelled, running ones are cancelled."""
        if self._closed:
            return
        self._closed = True
        for job in self._queue.close():
            job.cancel()
            job.events.put_nowait(GenerationCancelled("the generation service is shutting down"))
        await self._backend.close()

    async def __aenter__(self) -> GenerationService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def complete(self, request: GenerationRequest) -> GenerationResult:
        """Generate the whole text for ``request``."""
        async with contextlib.aclosing(self._run(request, wants_chunks=False)) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    return event
        raise BackendError("the backend ended a request without a result")

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield growing text for ``request``; the last chunk has ``done=True``.

        Closing the iterator (``break``, ``aclose()``, task cancellation) cancels the request.
        """
        shown = ""
        async with contextlib.aclosing(self._run(request, wants_chunks=True)) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    yield StreamChunk(
                        delta=event.text[len(shown) :] if event.text.startswith(shown) else "",
                        text=event.text,
                        done=True,
                        finish_reason=event.finish_reason,
                        prompt_tokens=event.prompt_tokens,
                        completion_tokens=event.completion_tokens,
                    )
                    return
                shown = event.text
                yield event

    async def _run(
        self, request: GenerationRequest, *, wants_chunks: bool
    ) -> AsyncGenerator[StreamChunk | GenerationResult, None]:
        if not self._started or self._closed:
            raise GenerationCancelled("the generation service is not running")
        if _prompt_chars(request) <= _INLINE_PROMPT_CHARS:  # cheaper than a thread hop
            prepared = self._backend.prepare(request)
        else:
            prepared = await asyncio.to_thread(self._backend.prepare, request)
        timeout = request.deadline_s or self._settings.default_timeout_s
        job = Job(
            request,
            prepared,
            asyncio.get_running_loop(),
            timeout_s=timeout,
            wants_chunks=wants_chunks,
        )
        watch = current_watch()
        if watch is not None:
            job.on_position = functools.partial(watch.report, job.id)
        try:
            self._queue.put(job)
        except GenerationError:
            self.metrics.record_outcome("rejected")
            raise
        self._report_load()
        first = True
        try:
            while True:
                event = await self._next_event(job)
                if first:
                    self.metrics.record_ttft(time.monotonic() - job.submitted_at)
                    first = False
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, GenerationResult):
                    job.finished = True
                    self.metrics.record_outcome("completed", job)
                    yield event
                    return
                yield event
        except GenerationTimeout:
            self.metrics.record_outcome("timed_out", job)
            raise
        except (GenerationCancelled, GeneratorExit, asyncio.CancelledError):
            if not job.finished:
                self.metrics.record_outcome("cancelled", job)
            raise
        except BaseException:
            self.metrics.record_outcome("failed", job)
            raise
        finally:
            if not job.finished:
                job.cancel()
                self._queue.discard(job)
            if watch is not None:
                watch.report(job.id, None)
            self._report_load()

    async def _next_event(self, job: Job) -> Event:
        if job.deadline is None:
            return await job.events.get()
        remaining = job.deadline - time.monotonic()
        try:
            if remaining <= 0:
                return job.events.get_nowait()
            async with asyncio.timeout(remaining):
                return await job.events.get()
        except (TimeoutError, asyncio.QueueEmpty) as exc:
            raise GenerationTimeout() from exc

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes with the model's tokenizer (cheap, thread-safe)."""
        return self._backend.count_tokens(text)

    @property
    def is_chat_model(self) -> bool:
        """True when chat messages are rendered with a chat template."""
        return self._backend.is_chat_model

    @property
    def max_context_tokens(self) -> int:
        """Prompt plus generated tokens must fit in this many tokens."""
        return self._backend.max_context_tokens

    @property
    def model_name(self) -> str:
        return self._backend.model_name

    def stats(self) -> ServiceStats:
        """Queue depth, active rows, batch sizes, tokens/s and time to first token."""
        m = self.metrics
        return ServiceStats(
            queue_depth=self._queue.depth,
            active=self._queue.running,
            completed=m.outcomes["completed"],
            rejected=m.outcomes["rejected"],
            timed_out=m.outcomes["timed_out"],
            cancelled=m.outcomes["cancelled"],
            failed=m.outcomes["failed"],
            last_batch_size=m.last_batch_size,
            mean_batch_size=m.mean_batch_size(),
            tokens_per_s=m.tokens_per_s(),
            ttft_median_s=m.ttft_median(),
            generated_tokens=m.generated_tokens,
        )

    def _report_load(self) -> None:
        self.metrics.set_load(self._queue.depth, self._queue.running)

    def _estimate_wait(self, position: int) -> float | None:
        rate = self.metrics.tokens_per_s()
        if rate <= 0:
            return None
        per_request = self._settings.max_batch_size * 128 / rate
        return position / self._settings.max_batch_size * per_request


def build_generation_service(settings: GenerationSettings) -> GenerationService:
    """The service for ``settings``: local transformers (static or continuous batching) or remote."""
    backend: Backend
    if settings.backend == "openai":
        from bot.generation.remote import OpenAIBackend

        backend = OpenAIBackend(settings)
    elif _use_continuous_batching(settings):
        from bot.generation.continuous import ContinuousBackend

        backend = ContinuousBackend(settings)
    else:
        from bot.generation.local import TransformersBackend

        backend = TransformersBackend(settings)
    return GenerationService(settings, backend)


def _use_continuous_batching(settings: GenerationSettings) -> bool:
    if settings.batching != "auto":
        return settings.batching == "continuous"
    from bot.generation.device import pick_device

    return pick_device(settings.device).type == "cuda"


def _prompt_chars(request: GenerationRequest) -> int:
    if isinstance(request.prompt, str):
        return len(request.prompt)
    return sum(len(m.content) for m in request.prompt)
