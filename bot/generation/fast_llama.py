"""A lean decoder for Llama models: the same logits as transformers' forward, far less work.

For a small model most of transformers' decoding step is Python and dispatch overhead (masks,
cache classes, many small ops). :class:`FastLlama` runs an already loaded ``LlamaForCausalLM``
with fused q/k/v and gate/up matrices, a RoPE table looked up by position, one
``scaled_dot_product_attention`` per layer (while decoding one token, the query heads that share
a kv head are folded into its query rows) and :class:`KVCache`, preallocated buffers the batch
can index (rows leaving) and left-pad (rows joining). It takes the decode worker's left-padded
batches with per-row position ids. What it does not implement is refused (:func:`supports`):
biases, RoPE scaling, other activations, quantized or offloaded weights, other architectures
stay on the model's own forward.

The matrices are copied once, at construction, into ``[in, out]`` contiguous layout (a batch-1
product reads it about 1.7x faster on CPU than ``nn.Linear``'s ``[out, in]``) with the RMSNorm
weight before each folded in; the embedding is shared. That is one more copy of the linear
weights (16 MB for the bundled model). Inside, q and k carry each head's dimensions in
(i, i + head_dim/2) pairs, so RoPE is one complex multiplication; attention scores do not change
because q and k are permuted alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

_ROOM = 128  # cache columns are allocated in steps of this many


def supports(model: Any) -> bool:
    """True when :class:`FastLlama` computes exactly what ``model``'s own forward does."""
    return why_unsupported(model) is None


def why_unsupported(model: Any) -> str | None:
    """What :class:`FastLlama` does not implement about ``model``; None when it runs it."""
    from transformers import LlamaForCausalLM

    if type(model) is not LlamaForCausalLM:
        return f"{type(model).__name__} is not LlamaForCausalLM"
    config: Any = model.config
    if getattr(model, "hf_quantizer", None) is not None:
        return "quantized weights"
    if any(p.device.type == "meta" for p in model.parameters()):
        return "offloaded weights"
    if model.training:
        return "training mode (dropout)"
    if config.attention_bias or config.mlp_bias:
        return "attention or MLP bias"
    if config.hidden_act != "silu":
        return f"activation {config.hidden_act!r}"
    rope = dict(getattr(config, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") != "default" or set(rope) - {"rope_type", "rope_theta"}:
        return f"RoPE parameters {rope}"
    if getattr(config, "pretraining_tp", 1) != 1:
        return "pretraining_tp"
    head_dim = _head_dim(config)
    if head_dim % 2 or config.num_attention_heads % config.num_key_value_heads:
        return "head layout"
    linear = torch.nn.Linear
    for layer in model.model.layers[: config.num_hidden_layers]:
        attn, mlp = layer.self_attn, layer.mlp
        parts = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj]
        parts += [mlp.gate_proj, mlp.up_proj, mlp.down_proj]
        if any(type(p) is not linear or p.bias is not None for p in parts):
            return "non-standard linear layers"
    return None


def _head_dim(config: Any) -> int:
    return int(
        getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    )


class KVCache:
    """Keys and values of every layer for a left-padded batch, ``[rows, kv_heads, capacity, dim]``.

    The first ``length`` columns are filled; columns are aligned across rows (the batch's
    attention mask says which are padding).
    """

    __slots__ = ("keys", "length", "values")

    mergeable = True

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int) -> None:
        self.keys = keys
        self.values = values
        self.length = length

    @classmethod
    def empty(cls, layers: int, like: torch.Tensor, rows: int, heads: int, dim: int) -> KVCache:
        return cls(
            [like.new_empty((rows, heads, 0, dim)) for _ in range(layers)],
            [like.new_empty((rows, heads, 0, dim)) for _ in range(layers)],
            0,
        )

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def reserve(self, columns: int) -> None:
        """Make room for ``columns`` more columns."""
        if self.length + columns > self.capacity:
            self._reshape(0, _rounded(self.length + columns))

    def select(self, index: torch.Tensor, lead: int) -> None:
        """Keep the rows ``index`` and drop the first ``lead`` columns."""
        for store in (self.keys, self.values):
            for i, buffer in enumerate(store):
                store[i] = buffer.index_select(0, index)
        if lead:
            self._reshape(lead, self.capacity - lead)

    def merge(self, other: KVCache, width: int) -> None:
        """Append ``other``'s rows; both are left-padded to ``width`` columns."""
        capacity = _rounded(width + 1)
        for store, theirs in ((self.keys, other.keys), (self.values, other.values)):
            for i, (mine, their) in enumerate(zip(store, theirs, strict=True)):
                rows = mine.shape[0] + their.shape[0]
                merged = mine.new_zeros((rows, mine.shape[1], capacity, mine.shape[3]))
                merged[: mine.shape[0], :, width - self.length : width] = mine[:, :, : self.length]
                merged[mine.shape[0] :, :, width - other.length : width] = their[
                    :, :, : other.length
                ]
                store[i] = merged
        self.length = width

    def _reshape(self, drop: int, capacity: int) -> None:
        keep = self.length - drop
        for store in (self.keys, self.values):
            for i, buffer in enumerate(store):
                rows, heads, _, dim = buffer.shape
                fresh = buffer.new_empty((rows, heads, capacity, dim))
                fresh[:, :, :keep] = buffer[:, :, drop : self.length]
                store[i] = fresh
        self.length = keep


def _rounded(columns: int) -> int:
    return -(-columns // _ROOM) * _ROOM + _ROOM // 2


@dataclass(frozen=True, slots=True)
class _Layer:
    """One decoder layer's matrices, ``[in, out]`` and contiguous (the faster layout for a
    matrix-vector product), RMSNorm weights folded into the matrix after each norm."""

    qkv: torch.Tensor  # [hidden, (heads + 2 kv_heads) * dim], q and k dims paired
    out: torch.Tensor  # [heads * dim, hidden]
    gate_up: torch.Tensor  # [hidden, 2 * intermediate]
    down: torch.Tensor  # [intermediate, hidden]


class FastLlama:
    """Runs a ``LlamaForCausalLM`` in eval mode (see the module docstring)."""

    name = "fast_llama"

    def __init__(self, model: Any) -> None:
        reason = why_unsupported(model)
        if reason is not None:
            raise ValueError(f"FastLlama does not support this model: {reason}")
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.dim = _head_dim(config)
        self.eps = float(config.rms_norm_eps)
        self.hidden = int(config.hidden_size)
        self.intermediate = int(config.intermediate_size)
        self.scale = self.dim**-0.5
        self.theta = float((config.rope_parameters or {}).get("rope_theta", 10000.0))
        base = model.model
        self.embed = base.embed_tokens.weight
        with torch.no_grad():
            layers = base.layers[: config.num_hidden_layers]
            self.layers = [self._fuse(layer) for layer in layers]
            self.lm_head = _folded(model.lm_head.weight, base.norm.weight)
        self._rope = self._rope_table(int(config.max_position_embeddings or 2048))
        self._float32 = self.embed.dtype == torch.float32
        self._eps = torch.full((1, 1, 1), self.eps, dtype=torch.float32, device=self.embed.device)
        self._mean = 1.0 / self.hidden

    def _fuse(self, layer: Any) -> _Layer:
        attn, mlp = layer.self_attn, layer.mlp
        pairs = torch.arange(self.dim).view(2, self.dim // 2).t().reshape(-1)
        q = attn.q_proj.weight.view(self.heads, self.dim, -1)[:, pairs].reshape(-1, self.hidden)
        k = attn.k_proj.weight.view(self.kv_heads, self.dim, -1)[:, pairs]
        qkv = torch.cat([q, k.reshape(-1, self.hidden), attn.v_proj.weight])
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
        return _Layer(
            qkv=_folded(qkv, layer.input_layernorm.weight),
            out=attn.o_proj.weight.t().contiguous(),
            gate_up=_folded(gate_up, layer.post_attention_layernorm.weight),
            down=mlp.down_proj.weight.t().contiguous(),
        )

    def _rope_table(self, positions: int) -> torch.Tensor:
        """``[positions, dim / 2]`` complex: cos + i sin, computed as transformers does."""
        inv_freq = 1.0 / (
            self.theta ** (torch.arange(0, self.dim, 2, dtype=torch.float) / self.dim)
        )
        angles = torch.arange(positions, dtype=torch.float)[:, None] * inv_freq[None, :]
        return torch.complex(angles.cos(), angles.sin()).to(self.embed.device)

    def new_cache(self, rows: int) -> KVCache:
        return KVCache.empty(len(self.layers), self.embed, rows, self.kv_heads, self.dim)

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: KVCache | None,
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits of every row's last position (``[rows, vocab]``) and the extended cache.

        ``attention_mask`` covers the cache and ``input_ids`` (``[rows, cached + new]``, 1 for
        real tokens, left-padded); ``position_ids`` are ``[rows, new]``.
        """
        rows, new = input_ids.shape
        tokens = rows * new
        if cache is None:
            cache = self.new_cache(rows)
        start = cache.length
        end = start + new
        cache.reserve(new)
        if end > self._rope.shape[0]:
            self._rope = self._rope_table(_rounded(end))
        rope = self._rope.index_select(0, position_ids.view(-1)).view(tokens, 1, -1)
        mask, causal = _attention_mask(attention_mask, new, start)
        heads, kv_heads, dim = self.heads, self.kv_heads, self.dim
        split, groups, inner = (heads + kv_heads) * dim, heads // kv_heads, self.intermediate
        x = F.embedding(input_ids.view(-1), self.embed)
        for layer, keys, values in zip(self.layers, cache.keys, cache.values, strict=True):
            qkv = torch.mm(self._rms(x), layer.qkv)
            qk = self._rotated(qkv[:, :split], rope)  # [tokens, heads + kv_heads, dim]
            if new == 1:  # the query heads sharing a kv head become its query rows
                keys[:, :, start] = qk[:, heads:]
                values[:, :, start] = qkv[:, split:].view(rows, kv_heads, dim)
                attn = F.scaled_dot_product_attention(
                    qk[:, :heads].view(rows, kv_heads, groups, dim),
                    keys[:, :, :end],
                    values[:, :, :end],
                    attn_mask=mask,
                    scale=self.scale,
                ).view(rows, heads * dim)
            else:
                k = qk[:, heads:].view(rows, new, kv_heads, dim)
                keys[:, :, start:end] = k.transpose(1, 2)
                v = qkv[:, split:].view(rows, new, kv_heads, dim)
                values[:, :, start:end] = v.transpose(1, 2)
                attn = F.scaled_dot_product_attention(
                    qk[:, :heads].view(rows, new, heads, dim).transpose(1, 2),
                    keys[:, :, :end],
                    values[:, :, :end],
                    attn_mask=mask,
                    is_causal=causal,
                    scale=self.scale,
                    enable_gqa=groups > 1,
                )
                attn = attn.transpose(1, 2).reshape(tokens, heads * dim)
            x = torch.addmm(x, attn, layer.out)
            gate_up = torch.mm(self._rms(x), layer.gate_up)
            x = torch.addmm(x, F.silu(gate_up[:, :inner]) * gate_up[:, inner:], layer.down)
        cache.length = end
        last = x if new == 1 else x.view(rows, new, -1)[:, -1]
        return torch.mm(self._rms(last), self.lm_head), cache

    def _rotated(self, qk: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        """RoPE on ``[tokens, heads * dim]`` (dims paired), in float32; ``[tokens, heads, dim]``."""
        tokens, half = qk.shape[0], self.dim // 2
        if self._float32:
            pairs = torch.view_as_complex(qk.view(tokens, -1, half, 2))
            return torch.view_as_real(pairs * rope).view(tokens, -1, self.dim)
        pairs = torch.view_as_complex(qk.float().view(tokens, -1, half, 2))
        return torch.view_as_real(pairs * rope).view(tokens, -1, self.dim).to(qk.dtype)

    def _rms(self, x: torch.Tensor) -> torch.Tensor:
        """RMSNorm without its weight (folded into the next matrix), in float32."""
        x32 = x if self._float32 else x.float()
        square = torch.baddbmm(self._eps, x32.unsqueeze(1), x32.unsqueeze(2), alpha=self._mean)
        out = x32 * square.view(-1, 1).rsqrt_()
        return out if self._float32 else out.to(x.dtype)


def _folded(weight: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """``[in, out]`` copy of a ``[out, in]`` weight that follows an RMSNorm with weight ``norm``."""
    return (weight.float() * norm.float()).t().contiguous().to(weight.dtype)


def _attention_mask(
    attention_mask: torch.Tensor, new: int, start: int
) -> tuple[torch.Tensor | None, bool]:
    """The SDPA mask for ``new`` queries after ``start`` cached columns, and whether to use
    ``is_causal`` instead. Every query may see itself, so padding rows never turn into NaN."""
    if (new == 1 or start == 0) and bool(attention_mask.all()):
        return None, new > 1
    real = attention_mask.bool()
    if new == 1:
        return real[:, None, None, :], False
    columns = torch.arange(start + new, device=real.device)
    queries = torch.arange(start, start + new, device=real.device)[:, None]
    allowed = (columns <= queries) & real[:, None, :]
    return (allowed | (columns == queries))[:, None], False
