"""The default offensive-language classifier: a fine-tuned MiniLM encoder, int8 on CPU.

``scripts/train_moderation.py --kind transformer`` fine-tunes the 6-layer MiniLM sentence
encoder (all-MiniLM-L6-v2, Apache-2.0) with a mean-pooled linear head on OLID and exports it
here without pickle: ``config.json`` (a BERT config), ``tokenizer.json``, ``weights.safetensors``
(linear and word-embedding weights as int8 with one scale per output row, the rest float32) and
``meta.json`` (threshold and held-out scores). At load the Linear layers become dynamically
quantised int8 kernels, a few milliseconds per message on one core.

Long texts are scored in overlapping windows and the highest window wins, so an insult at the
end of a long story turn counts as much as one at the start.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bot.errors import ConfigError
from bot.moderation.classifier import ClassifierInfo
from bot.moderation.normalize import classifier_text

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "data" / "offense_minilm"
FORMAT = "storyloom-minilm-offense-1"
QUANTIZED_SUFFIXES = (".qweight", ".scale")
_SCORE_CACHE_SIZE = 1024


def emoji_words(normalized: str) -> str:
    """Symbols (emoji) spelled out by their Unicode names, a run of one symbol once.

    The encoder's WordPiece vocabulary has no emoji: every one would read ``[UNK]``, and
    "🖕" or "🤬" says a lot about a message. Skin-tone modifiers are dropped."""
    if normalized.isascii():
        return normalized
    out: list[str] = []
    last = ""
    for char in normalized:
        category = unicodedata.category(char)
        if category == "So":
            name = unicodedata.name(char, "").lower()
            if name.startswith("regional indicator"):
                name = "flag"
            if name and name != last:
                out.append(f" {name} ")
            last = name
        elif category == "Sk" and 0x1F3FB <= ord(char) <= 0x1F3FF:
            continue
        else:
            if not char.isspace():
                last = ""
            out.append(char)
    return " ".join("".join(out).split())


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: ``weight ≈ qweight * scale[:, None]``."""
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
    qweight = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return qweight, scale.float()


def pack_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with every 2-D weight stored as int8 rows plus scales (for export)."""
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        tensor = tensor.detach().float().contiguous()
        if _quantizable(name, tensor):
            packed[name + ".qweight"], packed[name + ".scale"] = quantize_rows(tensor)
        else:
            packed[name] = tensor
    return packed


def unpack_state(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict back from :func:`pack_state`'s output."""
    state: dict[str, torch.Tensor] = {}
    for name, tensor in packed.items():
        if name.endswith(".scale"):
            continue
        if name.endswith(".qweight"):
            base = name.removesuffix(".qweight")
            state[base] = tensor.float() * packed[base + ".scale"][:, None]
        else:
            state[name] = tensor.float()
    return state


def _quantizable(name: str, tensor: torch.Tensor) -> bool:
    return (
        tensor.dim() == 2
        and name.endswith("weight")
        and ("word_embeddings" in name or "attention" in name or "dense" in name)
    )


def special_id(tokenizer: Any, token: str) -> int:
    """The id of a special token such as ``[CLS]``; ConfigError if the vocabulary lacks it."""
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ConfigError(f"the classifier's tokenizer has no {token} token")
    return int(found)


class MeanPoolHead(nn.Module):
    """Encoder, mean pooling over real tokens, one logit (the trained architecture)."""

    def __init__(self, encoder: nn.Module, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, 1)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states: torch.Tensor = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.pool(input_ids, attention_mask))
        return logits.squeeze(-1)


def build_model(config: dict[str, Any]) -> MeanPoolHead:
    """An untrained model of the exported shape (no download; weights come from the export)."""
    from transformers import BertConfig, BertModel

    bert_config = BertConfig(**config)
    return MeanPoolHead(BertModel(bert_config, add_pooling_layer=False), bert_config.hidden_size)


def _int8_linear(model: nn.Module) -> nn.Module:
    """Dynamic int8 Linear kernels, per output channel; float32 if this torch lacks them."""
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():  # torch >= 2.10 points to torchao; the API still works
            warnings.simplefilter("ignore")
            quantized: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
                model, {nn.Linear: per_channel_dynamic_qconfig}
            )
            return quantized
    except (ImportError, RuntimeError, AssertionError) as exc:  # pragma: no cover - old/odd torch
        log.warning("int8 kernels unavailable (%s); the classifier runs in float32", exc)
        return model


class TransformerClassifier:
    """Scores a text from 0 (harmless) to 1 (offensive). Thread-safe: read-only after load."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        info: ClassifierInfo,
        *,
        max_tokens: int = 128,
        stride: int = 96,
        spell_emoji: bool = False,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._cls = special_id(tokenizer, "[CLS]")
        self._sep = special_id(tokenizer, "[SEP]")
        self._pad = special_id(tokenizer, "[PAD]")
        self._window = max_tokens - 2
        self._stride = min(stride, self._window)
        self._spell_emoji = spell_emoji
        self.info = info
        self._cached: dict[str, float] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL_DIR) -> TransformerClassifier:
        """Load an export of ``scripts/train_moderation.py --kind transformer``."""
        return _load_cached(Path(path).resolve())

    @classmethod
    def _load(cls, path: Path) -> TransformerClassifier:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ConfigError(f"classifier at {path} has an unknown format")
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            model = build_model(config)
            model.load_state_dict(unpack_state(load_file(str(path / "weights.safetensors"))))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"cannot load moderation classifier from {path}: {exc}. Re-export it with "
                "scripts/train_moderation.py or point moderation.classifier_path elsewhere"
            ) from exc
        model.eval()
        info = ClassifierInfo(
            trained_on=str(meta.get("trained_on", "")),
            heldout_macro_f1=float(meta.get("heldout_macro_f1", 0.0)),
            threshold=float(meta.get("threshold", 0.5)),
        )
        return cls(
            _int8_linear(model),
            tokenizer,
            info,
            max_tokens=int(meta.get("max_tokens", 128)),
            stride=int(meta.get("stride", 96)),
            spell_emoji=bool(meta.get("spell_emoji", False)),
        )

    def windows(self, normalized: str) -> list[list[int]]:
        """Token ids of each scored window (``[CLS] … [SEP]``); none for an empty text."""
        if self._spell_emoji:
            normalized = emoji_words(normalized)
        ids = self._tokenizer.encode(normalized, add_special_tokens=False).ids
        if not ids:
            return []
        starts = range(0, max(len(ids) - self._window, 0) + 1, self._stride)
        spans = [ids[s : s + self._window] for s in starts]
        if len(ids) > self._window and (len(ids) - self._window) % self._stride:
            spans.append(ids[-self._window :])
        return [[self._cls, *span, self._sep] for span in spans]

    def score_many_normalized(self, texts: list[str]) -> list[float]:
        """Scores of texts already passed through ``classifier_text``.

        Each text runs as its own batch of windows: int8 activation scales are computed per
        batch, so scoring texts together would make one text's score depend on the others.
        """
        return [self.score_normalized(text) for text in texts]

    def quick_score(self, normalized: str) -> float | None:
        """None: scoring takes milliseconds, so the pipeline runs it on a worker thread."""
        return self._cached.get(normalized)

    def score_normalized(self, normalized: str) -> float:
        """Probability-like score for a text already passed through ``classifier_text``.

        Recent scores are remembered (the same notices and help texts are checked often)."""
        found = self._cached.get(normalized)
        if found is None:
            found = self._score(normalized)
            with self._cache_lock:
                if len(self._cached) >= _SCORE_CACHE_SIZE:
                    self._cached.pop(next(iter(self._cached)))
                self._cached[normalized] = found
        return found

    def forget(self) -> None:
        """Drop remembered scores (evaluations time the real cost)."""
        with self._cache_lock:
            self._cached.clear()

    def _score(self, normalized: str) -> float:
        rows = self.windows(normalized)
        if not rows:
            return 0.0
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        with torch.inference_mode():
            return float(torch.sigmoid(self._model(ids, mask)).max())

    def score(self, text: str) -> float:
        """Probability-like score that ``text`` is offensive."""
        return self.score_normalized(classifier_text(text))


_load_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_unlocked(path: Path) -> TransformerClassifier:
    return TransformerClassifier._load(path)


def _load_cached(path: Path) -> TransformerClassifier:
    with _load_lock:  # one load per path per process; the model is read-only and shared
        return _load_unlocked(path)
