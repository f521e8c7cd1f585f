"""scripts/moderation_finetune.py: fine-tuning the moderation encoder and exporting it."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from bot.moderation.normalize import classifier_text
from bot.moderation.transformer_classifier import DEFAULT_MODEL_DIR, TransformerClassifier

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_finetune() -> ModuleType:
    """The training module, imported the way the training script imports it."""
    spec = importlib.util.spec_from_file_location(
        "moderation_finetune", SCRIPTS / "moderation_finetune.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_finetune_trains_exports_and_the_export_reproduces_it(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    finetune = load_finetune()

    base = tmp_path / "base"
    tiny = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(tiny, add_pooling_layer=False).save_pretrained(base)
    shutil.copyfile(DEFAULT_MODEL_DIR / "tokenizer.json", base / "tokenizer.json")
    tuner = finetune.Finetuner(
        base, finetune.FinetuneConfig(epochs=3, batch_size=8, learning_rate=2e-3)
    )
    texts = ["you stupid idiot 🖕", "what a lovely day 🌞"] * 12
    labels = np.array([1, 0] * 12)
    rows = tuner.encode(texts)
    # An auxiliary task with its own head: its labels must not train the exported head.
    aux_texts = ["an unrelated tweet", "another one entirely"] * 4
    aux_rows = tuner.encode(aux_texts)
    aux_head_before = tuner.aux_head.weight.detach().clone()
    head_before = tuner.model.head.weight.detach().clone()
    before = tuner.predict(rows)
    epochs: list[int] = []
    tuner.train(
        rows + aux_rows,
        np.concatenate([labels, np.array([1, 0] * 4)]),
        np.ones(len(rows) + len(aux_rows)),
        aux=np.arange(len(rows) + len(aux_rows)) >= len(rows),
        on_epoch=epochs.append,
    )
    after = tuner.predict(rows)
    assert epochs == [1, 2, 3]
    gap = lambda p: p[labels == 1].mean() - p[labels == 0].mean()  # noqa: E731
    assert gap(after) > gap(before) + 0.1  # it learned something
    assert not torch.equal(tuner.aux_head.weight, aux_head_before)
    assert not torch.equal(tuner.model.head.weight, head_before)
    out = tmp_path / "export"
    tuner.export(out, {"trained_on": "test", "threshold": 0.5, "heldout_macro_f1": 0.0})
    assert json.loads((out / "meta.json").read_text())["spell_emoji"] is True
    exported = finetune.exported_scores(out, texts)
    assert np.allclose(exported, after, atol=0.05)  # int8 export ≈ the float32 model
    # Inference reads a text exactly as training did, emoji names included.
    loaded = TransformerClassifier._load(out)
    assert loaded.windows(classifier_text(texts[0])) == [rows[0]]
    from safetensors import safe_open

    with safe_open(str(out / "weights.safetensors"), "pt") as weights:
        names = set(weights.keys())
    assert "head.weight" in names and not [k for k in names if k.startswith("aux")]
