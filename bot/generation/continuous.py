"""The CUDA path of the local backend: transformers' ContinuousBatchingManager.

The manager runs its own generation thread, which then owns the model. It is always built with
an explicit :class:`ContinuousBatchingConfig` (its defaults size the KV cache from free memory),
with per-request temperature/top-k/top-p. Requests are fed from the service's fair queue; stop
strings, deadlines and cancellation are handled here, and since the manager never reports a
cancelled request, the service ends such a stream itself. Seeds, repetition penalty, n-gram
blocking and banned words are not per-request in the manager and are ignored on this path (the
moderation post-filter still catches banned words).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import torch

from bot.errors import BackendError, GenerationCancelled, GenerationTimeout
from bot.generation.jobs import Event, Job, post
from bot.generation.local import EncoderBackend, LoadedModel, PromptEncoder, _Row, load_model
from bot.generation.metrics import ServiceMetrics
from bot.generation.scheduler import FairQueue
from bot.generation.settings import GenerationSettings
from bot.generation.types import StreamChunk

log = logging.getLogger(__name__)

_WATCH_S = 0.05
_CPU = torch.device("cpu")


def continuous_batching_config(settings: GenerationSettings) -> Any:
    """The explicit, bounded continuous-batching configuration for ``settings``."""
    from transformers import ContinuousBatchingConfig

    return ContinuousBatchingConfig(
        page_size=settings.cb_page_size,
        num_blocks=settings.cb_num_blocks,
        max_batch_tokens=settings.cb_max_batch_tokens,
        max_requests_per_batch=settings.max_batch_size,
        max_memory_percent=0.8,
        per_request_processors=True,
        allow_block_sharing=False,
    )


class ContinuousBackend(EncoderBackend):
    """Feeds the service's queue into a ContinuousBatchingManager."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._manager: Any = None
        self._loaded: LoadedModel | None = None
        self._encoder: PromptEncoder | None = None
        self._queue: FairQueue | None = None
        self._metrics: ServiceMetrics | None = None
        self._rows: dict[str, _Row] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self, queue: FairQueue, metrics: ServiceMetrics) -> None:
        from transformers import AutoTokenizer, GenerationConfig

        loaded = await asyncio.to_thread(load_model, self._settings)
        self._loaded = loaded
        tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, loaded.name)
        self._encoder = PromptEncoder(tokenizer, loaded.max_context_tokens)
        generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
            do_sample=True,
            temperature=0.7,
            top_k=50,
            top_p=0.95,
            max_new_tokens=128,
            eos_token_id=sorted(loaded.eos_ids) or None,
            pad_token_id=loaded.pad_id,
        )
        self._manager = loaded.model.init_continuous_batching(
            generation_config=generation_config,
            continuous_batching_config=continuous_batching_config(self._settings),
        )
        self._manager.start()
        self._queue, self._metrics = queue, metrics
        loop = asyncio.get_running_loop()
        queue.add_listener(lambda: loop.call_soon_threadsafe(self._wake.set))
        self._dispatcher = asyncio.create_task(self._dispatch(), name="generation-cb")

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        for request_id in list(self._rows):
            self._end(request_id, GenerationCancelled("the generation service stopped"))
        if self._manager is not None:
            await asyncio.to_thread(self._manager.stop, True, 30.0)

    @property
    def active(self) -> int:
        return len(self._rows)

    @property
    def model_name(self) -> str:
        return self._loaded.name if self._loaded else (self._settings.model or "bundled")

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            self._wake.clear()
            free = self._settings.max_batch_size - len(self._rows)
            if free > 0:
                for job in self._queue.take(free):
                    self._submit(job)
            for request_id, row in list(self._rows.items()):
                if row.job.cancelled.is_set():
                    self._end(request_id, GenerationCancelled("cancelled"))
                elif row.job.expired():
                    self._end(request_id, GenerationTimeout())
            try:
                async with asyncio.timeout(_WATCH_S if self._rows else None):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _submit(self, job: Job) -> None:
        assert self._loaded is not None
        params = job.request.params
        row = _Row(job, self._loaded.tokenizer, self._loaded.eos_ids, _CPU, suppress_words=False)
        self._rows[job.id] = row
        self._manager.register_result_handler(job.id, lambda out: self._on_output(job.id, out))
        kwargs: dict[str, Any] = {
            "temperature": float(params.temperature) if not params.greedy else 1.0,
            "top_k": 1 if params.greedy else int(params.top_k),
            "top_p": float(params.top_p),
        }
        try:
            self._manager.add_request(
                list(job.prompt.token_ids),
                request_id=job.id,
                max_new_tokens=job.prompt.max_new_tokens,
                streaming=True,
                eos_token_id=-1 if params.ignore_eos else sorted(self._loaded.eos_ids),
                **kwargs,
            )
        except Exception as exc:
            self._end(job.id, BackendError(f"the model refused the request: {exc}"))

    def _on_output(self, request_id: str, output: Any) -> None:
        row = self._rows.get(request_id)
        if row is None:
            return
        if output.error is not None:
            self._end(request_id, BackendError(f"the model failed: {output.error}"))
            return
        tokens = list(output.generated_tokens)[row.count :]
        events: list[tuple[Job, Event]] = []
        reason = None
        for token in tokens:
            shown, reason = row.accept(token)
            if shown and row.job.wants_chunks:
                events.append((row.job, StreamChunk(delta=shown, text=row.stops.shown)))
            if reason is not None:
                break
        if self._metrics is not None and tokens:
            self._metrics.record_step(len(self._rows), len(tokens))
        if reason is None and output.is_finished():
            shown = row.stops.flush()
            if shown and row.job.wants_chunks:
                events.append((row.job, StreamChunk(delta=shown, text=row.stops.shown)))
            reason = "length" if row.count >= row.max_new else "eos"
        post(events)
        if reason is not None:
            self._end(request_id, row.result(reason), cancel=not output.is_finished())

    def _end(self, request_id: str, event: Event, *, cancel: bool = True) -> None:
        row = self._rows.pop(request_id, None)
        if row is None:
            return
        if cancel and self._manager is not None:
            self._manager.cancel_request(request_id)
            with self._manager.output_router._lock:
                self._manager.output_router.result_handlers.pop(request_id, None)
        post([(row.job, event)])
        assert self._queue is not None
        self._queue.release(row.job)
