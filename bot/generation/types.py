"""Values that cross the generation service's boundary: requests, parameters, results, chunks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.errors import InvalidRequest

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "eos"]

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick tokens for one request; every row of a batch honours its own parameters.

    ``temperature == 0`` means greedy decoding; ``top_k == 0`` and ``top_p == 1`` switch those
    filters off; ``no_repeat_ngram_size == 0`` allows any repetition; ``stop`` strings end the text
    (they are not part of the result); ``seed`` makes sampling reproducible for this request;
    ``ignore_eos`` keeps generating past the end-of-sequence token (for benchmarks);
    ``banned_words`` are words the backend must not sample (suppressed while decoding where the
    backend can; the moderation post-filter stays the backstop); ``favoured_words`` get
    ``favour`` added to the logit of their first token (case and leading-space variants), which
    nudges a small model toward the names and things a story is about (0: off).
    """

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False
    banned_words: tuple[str, ...] = ()
    favoured_words: tuple[str, ...] = ()
    favour: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.stop, str) or not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", _as_stop_tuple(self.stop))
        if isinstance(self.banned_words, str) or not isinstance(self.banned_words, tuple):
            object.__setattr__(self, "banned_words", _as_stop_tuple(self.banned_words))
        if isinstance(self.favoured_words, str) or not isinstance(self.favoured_words, tuple):
            object.__setattr__(self, "favoured_words", _as_stop_tuple(self.favoured_words))
        _check(
            _is_number(self.favour) and 0.0 <= self.favour <= 10.0,
            f"favour must be between 0 and 10 (got {self.favour!r})",
        )
        _check(
            _is_number(self.temperature) and 0.0 <= self.temperature <= 100.0,
            f"temperature must be between 0 and 100 (got {self.temperature!r})",
        )
        _check(
            _is_int(self.top_k) and self.top_k >= 0,
            f"top_k must be a whole number >= 0 (got {self.top_k!r})",
        )
        _check(
            _is_number(self.top_p) and 0.0 < self.top_p <= 1.0,
            f"top_p must be in (0, 1] (got {self.top_p!r})",
        )
        _check(
            _is_number(self.repetition_penalty) and 0.0 < self.repetition_penalty <= 10.0,
            f"repetition_penalty must be in (0, 10] (got {self.repetition_penalty!r})",
        )
        _check(
            _is_int(self.no_repeat_ngram_size) and self.no_repeat_ngram_size >= 0,
            f"no_repeat_ngram_size must be a whole number >= 0 (got {self.no_repeat_ngram_size!r})",
        )
        _check(
            _is_int(self.max_new_tokens) and 1 <= self.max_new_tokens <= 100_000,
            f"max_new_tokens must be between 1 and 100000 (got {self.max_new_tokens!r})",
        )
        _check(
            all(isinstance(s, str) and s for s in self.stop) and len(self.stop) <= 16,
            "stop must be at most 16 non-empty strings",
        )
        _check(
            self.seed is None or (_is_int(self.seed) and 0 <= self.seed < 2**63),
            f"seed must be a whole number >= 0 (got {self.seed!r})",
        )

    @property
    def greedy(self) -> bool:
        """True when the request picks the most likely token every step."""
        return self.temperature == 0.0

    def replace(self, **changes: Any) -> SamplingParams:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        _check(self.role in _ROLES, f"role must be one of {', '.join(_ROLES)} (got {self.role!r})")
        _check(isinstance(self.content, str), "message content must be text")


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One request to the generation service.

    ``prompt`` is plain text (continued as is) or chat messages (rendered with the model's chat
    template, or flattened to text for base models). ``channel_key`` groups requests for fairness;
    higher ``priority`` is served first; ``deadline_s`` counts from submission.
    """

    prompt: str | tuple[ChatMessage, ...]
    params: SamplingParams = field(default_factory=SamplingParams)
    channel_key: str = ""
    priority: int = 0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.prompt, list):
            object.__setattr__(self, "prompt", tuple(self.prompt))
        if isinstance(self.prompt, tuple):
            _check(len(self.prompt) > 0, "a chat prompt needs at least one message")
            _check(
                all(isinstance(m, ChatMessage) for m in self.prompt),
                "a chat prompt must be a tuple of ChatMessage",
            )
        else:
            _check(isinstance(self.prompt, str), "prompt must be text or chat messages")
        _check(isinstance(self.params, SamplingParams), "params must be SamplingParams")
        _check(_is_int(self.priority), "priority must be a whole number")
        _check(
            self.deadline_s is None or (_is_number(self.deadline_s) and self.deadline_s > 0),
            f"deadline_s must be > 0 seconds (got {self.deadline_s!r})",
        )

    @property
    def is_chat(self) -> bool:
        """True when the prompt is a list of chat messages."""
        return isinstance(self.prompt, tuple)


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """The finished text of one request (stop strings removed) and its token counts.

    ``mean_logprob`` is the model's own average log-probability (natural log, before sampling
    filters and temperature) of the tokens it chose; None when the backend does not report it.
    Higher is more fluent: rerankers use it to compare candidates of one prompt.
    """

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    mean_logprob: float | None = None


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One streamed piece: ``delta`` is new text, ``text`` everything so far.

    The last chunk has ``done=True``, a ``finish_reason`` and the token counts (its delta may be
    empty).
    """

    delta: str
    text: str
    done: bool = False
    finish_reason: FinishReason | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceStats:
    """A snapshot of the service's load and speed."""

    queue_depth: int
    active: int
    completed: int
    rejected: int
    timed_out: int
    cancelled: int
    failed: int
    last_batch_size: int
    mean_batch_size: float
    tokens_per_s: float
    ttft_median_s: float | None
    generated_tokens: int


def _as_stop_tuple(stop: object) -> tuple[str, ...]:
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list | tuple | set | frozenset):
        return tuple(stop)
    raise InvalidRequest("stop must be a string or a list of strings")


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidRequest(message)
