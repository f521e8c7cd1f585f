"""The seam between the pipeline and a learned classifier: what a scorer offers, and loading one.

Three kinds load from ``moderation.classifier_path``, picked by what the path is:

* a directory: the fine-tuned MiniLM (:mod:`bot.moderation.transformer_classifier`);
* an ``.npz`` file: the n-gram NB-LR (:mod:`bot.moderation.classifier`, numpy only);
* a ``.json`` blend: a weighted mean of other scorers' probabilities, with its own threshold.

The default is the shipped MiniLM. ``scripts/train_moderation.py --kind blend`` fits a blend of
MiniLM and NB-LR; on held-out OLID it scored no better than MiniLM alone (0.773 against 0.775
macro-F1), so none ships, but an operator may point ``classifier_path`` at one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.errors import ConfigError
from bot.moderation.classifier import ClassifierInfo, OffensiveClassifier
from bot.moderation.transformer_classifier import DEFAULT_MODEL_DIR, TransformerClassifier

BLEND_FORMAT = "storyloom-blend-1"


class TextScorer(Protocol):
    """Scores a normalised text from 0 (harmless) to 1 (offensive); thread-safe."""

    @property
    def info(self) -> ClassifierInfo: ...

    @property
    def runs_inline(self) -> bool:
        """Cheap enough (well under a millisecond) to call on the event loop."""

    def score_normalized(self, normalized: str) -> float: ...


class BlendedClassifier:
    """A weighted mean of several scorers' probabilities."""

    def __init__(self, parts: Sequence[tuple[TextScorer, float]], info: ClassifierInfo) -> None:
        total = sum(weight for _, weight in parts)
        if not parts or total <= 0:
            raise ConfigError("a classifier blend needs parts with positive weights")
        self.parts = tuple((scorer, weight / total) for scorer, weight in parts)
        self.info = info
        self.runs_inline = all(scorer.runs_inline for scorer, _ in self.parts)

    def score_normalized(self, normalized: str) -> float:
        return sum(weight * scorer.score_normalized(normalized) for scorer, weight in self.parts)


def load_blend(path: Path) -> BlendedClassifier:
    """A blend file: ``{"format", "parts": [{"path", "weight"}], "threshold", ...}``; part paths
    are relative to the file."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        if spec.get("format") != BLEND_FORMAT:
            raise ConfigError(f"classifier blend {path} has an unknown format")
        parts = [
            (load_classifier(path.parent / part["path"]), float(part["weight"]))
            for part in spec["parts"]
            if float(part["weight"]) > 0
        ]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot load classifier blend {path}: {exc}") from exc
    info = ClassifierInfo(
        trained_on=str(spec.get("trained_on", "")),
        heldout_macro_f1=float(spec.get("heldout_macro_f1", 0.0)),
        threshold=float(spec.get("threshold", 0.5)),
    )
    return BlendedClassifier(parts, info)


def load_classifier(path: Path | None = None) -> TextScorer:
    """The scorer at ``path`` (a model directory, an ``.npz`` or a ``.json`` blend); the shipped
    MiniLM if None."""
    path = Path(path or DEFAULT_MODEL_DIR)
    if path.is_dir():
        return TransformerClassifier.load(path)
    if path.suffix == ".json":
        return load_blend(path)
    return OffensiveClassifier.load(path)
