"""Device and dtype choice: cuda > mps > cpu; bf16/fp16 on accelerators, fp32 on CPU."""

from __future__ import annotations

import torch

from bot.errors import ConfigError


def pick_device(preference: str) -> torch.device:
    """The torch device for ``preference`` ("auto", "cpu", "cuda", "mps")."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("generation.device is 'cuda' but no CUDA device is available")
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("generation.device is 'mps' but MPS is not available")
    return torch.device(preference)


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """The weights' dtype for ``preference`` on ``device``."""
    if preference != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            preference
        ]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
