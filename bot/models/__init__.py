"""Models that ship inside the storyloom package.

``tiny_story`` is storyloom's own small story model (a byte-level BPE tokenizer and a Llama-style
causal LM trained by ``scripts/train_model.py``), stored in Hugging Face format so it loads with
``AutoModelForCausalLM.from_pretrained(bundled_model_path())``. It is the default when no model is
configured: good enough for demos and tests, not for real deployments.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_MODEL_NAME = "tiny_story"
"""Directory name (and display name) of the bundled model."""


def bundled_model_path() -> Path:
    """Directory of the bundled model (config.json, model.safetensors, tokenizer files)."""
    return Path(__file__).resolve().parent / BUNDLED_MODEL_NAME
