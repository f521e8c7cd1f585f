"""The in-process transformers backend: one worker thread owns the model and runs the batch.

The worker's decode loop keeps a left-padded batch with a KV cache. At every step boundary,
queued requests join (prefilled as a group, then merged into the cache), finished, cancelled or
expired rows leave, and each row samples with its own parameters. CUDA can use transformers'
continuous batching instead (see :mod:`bot.generation.continuous`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from bot.errors import (
    BackendError,
    ConfigError,
    GenerationCancelled,
    GenerationTimeout,
    PromptTooLong,
)
from bot.generation.banned import (
    NO_BANS,
    BannedTokens,
    SequenceBan,
    compile_banned,
    first_tokens,
)
from bot.generation.decoders import Decoder, RowCache, pick_decoder
from bot.generation.device import pick_device, pick_dtype
from bot.generation.jobs import Event, Job, PreparedPrompt, post
from bot.generation.metrics import ServiceMetrics
from bot.generation.prompts import flatten_messages, has_chat_template, render_chat
from bot.generation.sampling import BatchSampler, NgramBlocker
from bot.generation.scheduler import FairQueue
from bot.generation.settings import GenerationSettings
from bot.generation.text import IncrementalDecoder, StopScanner
from bot.generation.types import FinishReason, GenerationRequest, GenerationResult, StreamChunk

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.2
_GATHER_S = 0.004  # when idle, wait this long for requests that arrive together


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """What the worker thread owns after loading."""

    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    name: str
    eos_ids: frozenset[int]
    pad_id: int
    max_context_tokens: int


def resolve_model_path(settings: GenerationSettings) -> str:
    """The configured model, or the bundled one."""
    if settings.model:
        return settings.model
    try:
        from bot.models import bundled_model_path
    except ImportError as exc:
        raise ConfigError("no generation.model configured and no bundled model found") from exc
    return str(bundled_model_path())


def load_model(settings: GenerationSettings) -> LoadedModel:
    """Load tokenizer and model (blocking; transformers shows its own progress bar)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(settings)
    device = pick_device(settings.device)
    dtype = pick_dtype(settings.dtype, device)
    log.info("loading generation model %s on %s (%s)", path, device, dtype)
    started = time.monotonic()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load generation model {path!r}: {exc}") from exc
    model.to(device).eval()  # type: ignore[arg-type]
    log.info("generation model loaded in %.1fs", time.monotonic() - started)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        name=path,
        eos_ids=_eos_ids(model, tokenizer),
        pad_id=_pad_id(tokenizer),
        max_context_tokens=settings.max_context_tokens or _context_limit(model, tokenizer),
    )


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _pad_id(tokenizer: Any) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if value is not None:
            return int(value)
    return 0


def _context_limit(model: Any, tokenizer: Any) -> int:
    config = model.config.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048


class PromptEncoder:
    """Renders and tokenizes prompts; thread-safe (its own tokenizer behind a lock)."""

    def __init__(self, tokenizer: Any, max_context_tokens: int) -> None:
        self._tokenizer = tokenizer
        self._lock = threading.Lock()
        self.max_context_tokens = max_context_tokens
        self.is_chat = has_chat_template(tokenizer)
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else None
        self._start_id = start if start is not None else _pad_id(tokenizer)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokenizer.encode(text, add_special_tokens=False))

    def prepare(self, request: GenerationRequest) -> PreparedPrompt:
        """Token ids for ``request``; raises PromptTooLong when no new token would fit."""
        messages = None
        if isinstance(request.prompt, tuple):
            messages = tuple((m.role, m.content) for m in request.prompt)
            with self._lock:
                if self.is_chat:
                    text, special = render_chat(self._tokenizer, request.prompt), False
                else:
                    text, special = flatten_messages(request.prompt), True
        else:
            text, special = request.prompt, True
        with self._lock:
            ids = self._tokenizer.encode(text, add_special_tokens=special)
        if not ids:
            ids = [self._start_id]
        room = self.max_context_tokens - len(ids)
        if room < 1:
            raise PromptTooLong(prompt_tokens=len(ids), limit=self.max_context_tokens - 1)
        return PreparedPrompt(
            text=text,
            token_ids=tuple(ids),
            prompt_tokens=len(ids),
            max_new_tokens=min(request.params.max_new_tokens, room),
            messages=messages,
        )


class EncoderBackend:
    """What the local backends share: a prompt encoder set up when the model loads."""

    _encoder: PromptEncoder | None = None

    @property
    def encoder(self) -> PromptEncoder:
        if self._encoder is None:
            raise BackendError("the generation service is not started")
        return self._encoder

    def prepare(self, request: GenerationRequest) -> PreparedPrompt:
        return self.encoder.prepare(request)

    def count_tokens(self, text: str) -> int:
        return self.encoder.count_tokens(text)

    @property
    def is_chat_model(self) -> bool:
        return self.encoder.is_chat

    @property
    def max_context_tokens(self) -> int:
        return self.encoder.max_context_tokens


class _Row:
    """One request inside the batch."""

    __slots__ = (
        "bans",
        "count",
        "decoder",
        "eos_ids",
        "favoured",
        "generator",
        "job",
        "logprob",
        "max_new",
        "ngram",
        "params",
        "sent_at",
        "stops",
        "unsent",
        "word_bans",
    )

    def __init__(
        self,
        job: Job,
        tokenizer: Any,
        eos_ids: frozenset[int],
        device: torch.device,
        *,
        suppress_words: bool = True,
    ):
        self.job = job
        self.params = job.request.params
        self.max_new = job.prompt.max_new_tokens
        self.count = 0
        self.logprob: float | None = 0.0  # chosen tokens' log-probabilities (None: unknown)
        self.eos_ids = frozenset() if self.params.ignore_eos else eos_ids
        self.decoder = IncrementalDecoder(tokenizer, job.prompt.token_ids)
        self.stops = StopScanner(self.params.stop)
        self.ngram = (
            NgramBlocker(self.params.no_repeat_ngram_size, job.prompt.token_ids)
            if self.params.no_repeat_ngram_size > 0
            else None
        )
        self.bans: BannedTokens = (
            compile_banned(tokenizer, self.params.banned_words)
            if suppress_words and self.params.banned_words
            else NO_BANS
        )
        self.word_bans = (
            SequenceBan(self.bans, job.prompt.token_ids) if self.bans.sequences else None
        )
        self.favoured: set[int] = (
            set(first_tokens(tokenizer, self.params.favoured_words))
            if self.params.favour and self.params.favoured_words
            else set()
        )  # a favoured word once written is favoured no more
        self.generator: torch.Generator | None = None
        if self.params.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(self.params.seed)
        self.unsent = ""  # shown text not yet delivered as a chunk
        self.sent_at: float | None = None  # when the last chunk went out (None: none yet)

    def chunk(self, shown: str, now: float, interval_s: float) -> StreamChunk | None:
        """A chunk to deliver now, or None to coalesce ``shown`` into the next one.

        The first chunk goes out at once (time to first token); later ones at most every
        ``interval_s``, so a fast model does not wake the event loop for every token. The final
        result carries the whole text, so nothing coalesced is lost.
        """
        self.unsent += shown
        if not self.unsent or (self.sent_at is not None and now - self.sent_at < interval_s):
            return None
        delta, self.unsent, self.sent_at = self.unsent, "", now
        return StreamChunk(delta=delta, text=self.stops.shown)

    def accept(self, token: int, logprob: float | None = None) -> tuple[str, FinishReason | None]:
        self.count += 1
        self.logprob = None if logprob is None or self.logprob is None else self.logprob + logprob
        if self.ngram is not None:
            self.ngram.push(token)
        if self.word_bans is not None:
            self.word_bans.push(token)
        self.favoured.discard(token)
        reason: FinishReason | None = None
        if token in self.eos_ids:
            shown, reason = "", "eos"
        else:
            shown = self.stops.feed(self.decoder.push(token))
            if self.count >= self.max_new:
                reason = "length"
        if reason is not None and not self.stops.stopped:
            shown += self.stops.feed(self.decoder.flush())
            shown += self.stops.flush()
        if self.stops.stopped:
            return shown, "stop"
        return shown, reason

    def result(self, reason: FinishReason) -> GenerationResult:
        return GenerationResult(
            text=self.stops.text,
            finish_reason=reason,
            prompt_tokens=self.job.prompt.prompt_tokens,
            completion_tokens=self.count,
            mean_logprob=self.logprob / self.count if self.count and self.logprob else None,
        )


class _Batch:
    """Rows decoding together: KV cache, attention mask, pending tokens, seen-token mask."""

    def __init__(
        self,
        rows: list[_Row],
        cache: RowCache,
        mask: torch.Tensor,
        next_tokens: torch.Tensor,
        seen: torch.Tensor,
    ) -> None:
        self.rows = rows
        self.cache = cache
        self.mask = mask
        self.next_tokens = next_tokens
        self.seen = seen

    def select(self, keep: list[int]) -> None:
        if not keep:
            self.rows = []
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.rows = [self.rows[i] for i in keep]
        self.mask = self.mask.index_select(0, index)
        self.next_tokens = self.next_tokens.index_select(0, index)
        self.seen = self.seen.index_select(0, index)
        lead = int(self.mask.argmax(dim=1).min())
        if lead:
            self.mask = self.mask[:, lead:]
        self.cache.select(index, lead)

    def merge(self, other: _Batch) -> None:
        width = max(self.mask.shape[1], other.mask.shape[1])
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(other.mask, width)])
        self.cache.merge(other.cache, width)
        self.rows += other.rows
        self.next_tokens = torch.cat([self.next_tokens, other.next_tokens])
        self.seen = torch.cat([self.seen, other.seen])


def _chosen_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> list[float]:
    """Each row's log-probability of its chosen token under the model's raw distribution."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(1, tokens.unsqueeze(1)).squeeze(1).tolist()


def _pad_left(mask: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - mask.shape[1]
    return torch.cat([mask.new_zeros((mask.shape[0], missing)), mask], 1) if missing > 0 else mask


class DecodeWorker:
    """The thread that owns the model and runs the batched decode loop."""

    def __init__(
        self, settings: GenerationSettings, queue: FairQueue, metrics: ServiceMetrics
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._metrics = metrics
        self._stop = threading.Event()
        self._loaded: concurrent.futures.Future[LoadedModel] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="generation-worker", daemon=True)
        self._batch: _Batch | None = None
        self._sampler: BatchSampler | None = None
        self._can_join = True
        self._m: LoadedModel
        self._shared_gen: torch.Generator
        self._decoder: Decoder
        self.active = 0

    def start(self) -> concurrent.futures.Future[LoadedModel]:
        self._thread.start()
        return self._loaded

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            if self._settings.torch_threads:
                torch.set_num_threads(self._settings.torch_threads)
            loaded = load_model(self._settings)
            self._m = loaded
            self._decoder = pick_decoder(loaded.model, fast=self._settings.fast_decoder)
            self._shared_gen = torch.Generator(device=loaded.device)
            self._shared_gen.seed()
        except BaseException as exc:
            # Every start-up failure reaches the waiting ``start()`` (it would wait forever).
            self._loaded.set_exception(exc)
            return
        self._loaded.set_result(loaded)
        try:
            with torch.inference_mode():
                self._loop()
        except BaseException as exc:
            log.exception("generation worker crashed")
            self._fail_all(BackendError(f"the local model failed: {exc}"))
            raise
        finally:
            self._fail_all(GenerationCancelled("the generation service stopped"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._admit()
                if self._batch is None:
                    self._queue.wait(_IDLE_WAIT_S)
                    continue
                self._drop_dead()
                if self._batch is not None:
                    self._step()
            except Exception as exc:  # keep serving: fail the batch, not the worker
                log.exception("generation step failed")
                self._fail_all(BackendError(f"the local model failed: {exc}"))

    # -- joining ----------------------------------------------------------------------------

    def _admit(self) -> None:
        rows_now = len(self._batch.rows) if self._batch else 0
        free = self._settings.max_batch_size - rows_now
        if free <= 0 or self._queue.depth == 0 or (rows_now and not self._can_join):
            return
        jobs = self._queue.take(free)
        if not jobs:
            return
        if rows_now == 0 and len(jobs) < free:
            time.sleep(_GATHER_S)
            jobs += self._queue.take(free - len(jobs))
        try:
            group = self._prefill(jobs)
        except Exception as exc:
            log.exception("prefill failed")
            self._finish_jobs(jobs, BackendError(f"the local model failed: {exc}"))
            return
        if group is None:
            return
        if self._batch is None:
            self._batch = group
            self._can_join = group.cache.mergeable
        else:
            self._batch.merge(group)
        self._rebuild_sampler()

    def _prefill(self, jobs: list[Job]) -> _Batch | None:
        m = self._m
        suppress = self._settings.suppress_banned_words
        rows = [
            _Row(job, m.tokenizer, m.eos_ids, m.device, suppress_words=suppress) for job in jobs
        ]
        width = max(len(job.prompt.token_ids) for job in jobs)
        ids = torch.full((len(jobs), width), m.pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        vocab = m.model.get_output_embeddings().weight.shape[0]
        seen = torch.zeros((len(jobs), vocab), dtype=torch.bool)
        for i, job in enumerate(jobs):
            tokens = torch.tensor(job.prompt.token_ids, dtype=torch.long)
            ids[i, width - len(tokens) :] = tokens
            mask[i, width - len(tokens) :] = 1
            seen[i, tokens.clamp(max=vocab - 1)] = True
        ids, mask, seen = ids.to(m.device), mask.to(m.device), seen.to(m.device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits, cache = self._decoder(ids, mask, positions, None)
        sampler = self._sampler_for(rows)
        group = _Batch(rows, cache, mask, ids[:, -1], seen)
        tokens = sampler.choose(logits, seen, self._banned(rows), self._favoured(rows))
        self._accept(group, tokens, _chosen_logprobs(logits, tokens))
        return group if group.rows else None

    # -- stepping ---------------------------------------------------------------------------

    def _step(self) -> None:
        batch = self._batch
        assert batch is not None and self._sampler is not None
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((batch.mask.shape[0], 1))], 1)
        positions = batch.mask.sum(dim=1, keepdim=True) - 1
        try:
            logits, batch.cache = self._decoder(
                batch.next_tokens.unsqueeze(1), batch.mask, positions, batch.cache
            )
            tokens = self._sampler.choose(
                logits, batch.seen, self._banned(batch.rows), self._favoured(batch.rows)
            )
            logprobs = _chosen_logprobs(logits, tokens)
        except Exception as exc:
            log.exception("decoding step failed")
            self._finish_jobs([r.job for r in batch.rows], BackendError(f"the model failed: {exc}"))
            self._batch = None
            self.active = 0
            return
        self._accept(batch, tokens, logprobs)
        if not batch.rows:
            self._batch = None
            self._sampler = None
        self.active = len(batch.rows)

    @staticmethod
    def _banned(rows: list[_Row]) -> dict[int, set[int]]:
        """This step's bans: repeated n-grams and banned words' sequences (EOS for
        ``ignore_eos`` rows and single-token banned words are the sampler's own)."""
        banned: dict[int, set[int]] = {}
        for i, row in enumerate(rows):
            if row.ngram is not None:
                banned[i] = row.ngram.banned()
            words = row.word_bans.banned() if row.word_bans is not None else None
            if words:
                banned[i] = banned.get(i, set()) | words
        return banned

    @staticmethod
    def _favoured(rows: list[_Row]) -> dict[int, set[int]]:
        """This step's favoured tokens: each row's favoured words not yet written."""
        return {i: row.favoured for i, row in enumerate(rows) if row.favoured}

    def _accept(self, batch: _Batch, tokens: torch.Tensor, logprobs: list[float]) -> None:
        """Record each row's new token, stream text out, and drop the rows that finished."""
        batch.seen.scatter_(1, tokens.unsqueeze(1), True)
        batch.next_tokens = tokens
        events: list[tuple[Job, Event]] = []
        keep: list[int] = []
        now = time.monotonic()
        interval = self._settings.stream_interval_s
        rows = zip(batch.rows, tokens.tolist(), logprobs, strict=True)
        for i, (row, token, logprob) in enumerate(rows):
            shown, reason = row.accept(token, logprob)
            if reason is None and row.job.wants_chunks:
                chunk = row.chunk(shown, now, interval)
                if chunk is not None:
                    events.append((row.job, chunk))
            if reason is None:
                keep.append(i)
            else:
                events.append((row.job, row.result(reason)))
                self._queue.release(row.job)
        post(events)
        self._metrics.record_step(len(batch.rows), len(batch.rows))
        if len(keep) < len(batch.rows):
            batch.select(keep)
            if batch is self._batch:
                self._rebuild_sampler()

    def _drop_dead(self) -> None:
        batch = self._batch
        assert batch is not None
        now = time.monotonic()
        keep: list[int] = []
        events: list[tuple[Job, Event]] = []
        for i, row in enumerate(batch.rows):
            job = row.job
            if job.cancelled.is_set():
                events.append((job, GenerationCancelled("cancelled")))
            elif job.expired(now):
                events.append((job, GenerationTimeout()))
            else:
                keep.append(i)
                continue
            self._queue.release(job)
        if not events:
            return
        post(events)
        if keep:
            batch.select(keep)
            self._rebuild_sampler()
        else:
            self._batch = None
            self._sampler = None
        self.active = len(keep)

    def _rebuild_sampler(self) -> None:
        batch = self._batch
        if batch is None:
            self._sampler = None
            return
        self._sampler = self._sampler_for(batch.rows)
        self.active = len(batch.rows)

    def _sampler_for(self, rows: list[_Row]) -> BatchSampler:
        return BatchSampler(
            [r.params for r in rows],
            [r.generator for r in rows],
            self._shared_gen,
            self._m.device,
            suppressed={
                i: (self._m.eos_ids if r.params.ignore_eos else frozenset()) | r.bans.single
                for i, r in enumerate(rows)
                if r.params.ignore_eos or r.bans.single
            },
        )

    def _finish_jobs(self, jobs: list[Job], error: BaseException) -> None:
        post([(job, error) for job in jobs])
        for job in jobs:
            self._queue.release(job)

    def _fail_all(self, error: BaseException) -> None:
        if self._batch is not None:
            self._finish_jobs([r.job for r in self._batch.rows], error)
            self._batch = None
        self.active = 0


class TransformersBackend(EncoderBackend):
    """Runs a transformers causal LM in this process (see the module docstring)."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._worker: DecodeWorker | None = None
        self._encoder: PromptEncoder | None = None
        self._name = settings.model or "bundled"

    async def start(self, queue: FairQueue, metrics: ServiceMetrics) -> None:
        self._worker = DecodeWorker(self._settings, queue, metrics)
        loaded = await asyncio.wrap_future(self._worker.start())
        from transformers import AutoTokenizer

        tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, loaded.name)
        self._encoder = PromptEncoder(tokenizer, loaded.max_context_tokens)
        self._name = loaded.name

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            await asyncio.to_thread(self._worker.join, 30.0)

    @property
    def active(self) -> int:
        return self._worker.active if self._worker else 0

    @property
    def model_name(self) -> str:
        return self._name
