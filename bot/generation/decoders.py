"""What the decode loop runs the model with: its own forward, or the lean Llama decoder.

Both take a left-padded batch (token ids, an attention mask over cache and new tokens, per-row
position ids) and a cache, and return each row's last logits and the extended cache. The worker
moves rows in and out of either kind of cache through the same two calls (:class:`RowCache`).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from bot.generation import fast_llama

log = logging.getLogger(__name__)


class RowCache(Protocol):
    """A KV cache whose rows can leave and join between steps."""

    @property
    def mergeable(self) -> bool:
        """False when other rows cannot be merged in (a cache kind the worker cannot pad)."""
        ...

    def select(self, index: torch.Tensor, lead: int) -> None:
        """Keep the rows ``index``; drop the first ``lead`` (all-padding) columns."""
        ...

    def merge(self, other: Any, width: int) -> None:
        """Append ``other``'s rows (the same kind); both are left-padded to ``width`` columns."""
        ...


class Decoder(Protocol):
    """Runs one prefill or decoding step of a left-padded batch."""

    name: str

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any,
    ) -> tuple[torch.Tensor, Any]:
        """``[rows, vocab]`` logits of each row's last position, and the cache (a new one
        when ``cache`` is None)."""
        ...


class ModelCache:
    """A transformers ``Cache`` from the model's own forward."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def mergeable(self) -> bool:
        from transformers.cache_utils import DynamicLayer

        layers: list[Any] = list(getattr(self.inner, "layers", None) or [])
        return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)

    def select(self, index: torch.Tensor, lead: int) -> None:
        for layer in self.inner.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, lead:, :]
            layer.values = layer.values.index_select(0, index)[:, :, lead:, :]

    def merge(self, other: ModelCache, width: int) -> None:
        for mine, theirs in zip(self.inner.layers, other.inner.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, width), _pad_left(theirs.keys, width)])
            mine.values = torch.cat(
                [_pad_left(mine.values, width), _pad_left(theirs.values, width)]
            )


def _pad_left(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Pad ``[rows, heads, columns, dim]`` with zero columns on the left up to ``width``."""
    missing = width - tensor.shape[2]
    return F.pad(tensor, [0, 0, missing, 0]) if missing > 0 else tensor


def cache_argument(model: Any) -> str:
    """The forward keyword that takes the KV cache: ``cache`` since transformers 5.24 (which
    deprecates ``past_key_values``), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(output: Any) -> Any:
    """The KV cache a forward returned, under either name."""
    found = output.get("cache")
    return found if found is not None else output.past_key_values


class ModelForward:
    """The model's own forward: any causal LM transformers can run."""

    name = "transformers"

    def __init__(self, model: Any) -> None:
        self._model = model
        accepts = inspect.signature(model.forward).parameters
        self._kwargs = {"logits_to_keep": 1} if "logits_to_keep" in accepts else {}
        self._cache_argument = cache_argument(model)

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: ModelCache | None,
    ) -> tuple[torch.Tensor, ModelCache]:
        out = self._model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self._cache_argument: None if cache is None else cache.inner},
            **self._kwargs,
        )
        if cache is None:
            return out.logits[:, -1, :], ModelCache(output_cache(out))
        cache.inner = output_cache(out)
        return out.logits[:, -1, :], cache


def pick_decoder(model: Any, *, fast: bool) -> Decoder:
    """The lean decoder when ``fast`` and the model is one it runs exactly; else the model's own
    forward. Logs which."""
    if fast:
        reason = fast_llama.why_unsupported(model)
        if reason is None:
            log.info("decoding with the lean Llama decoder (fast_llama)")
            return fast_llama.FastLlama(model)
        log.info("decoding with the model's own forward (fast decoder: %s)", reason)
    else:
        log.info("decoding with the model's own forward (fast_decoder is off)")
    return ModelForward(model)
