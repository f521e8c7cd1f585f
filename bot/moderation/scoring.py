"""The seam between the pipeline and a learned classifier: what a scorer offers, and loading one.

``moderation.classifier_path`` picks a scorer by what the path is:

* a directory: the fine-tuned MiniLM (:mod:`bot.moderation.transformer_classifier`), a few
  milliseconds a message;
* an ``.npz`` file: the n-gram NB-LR (:mod:`bot.moderation.classifier`), well under one;
* a ``.json`` cascade: a cheap scorer first, the costly one only for texts the cheap one does
  not find clearly harmless.

The default (``data/classifier.json``, written by ``scripts/train_moderation.py --kind
cascade``) gates MiniLM behind the n-gram model: nearly MiniLM's accuracy, while most ordinary
chat and story text costs only the n-gram model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from bot.errors import ConfigError
from bot.moderation.classifier import ClassifierInfo, OffensiveClassifier
from bot.moderation.transformer_classifier import TransformerClassifier

DEFAULT_CASCADE = Path(__file__).parent / "data" / "classifier.json"
CASCADE_FORMAT = "storyloom-cascade-1"


class TextScorer(Protocol):
    """Scores a normalised text from 0 (harmless) to 1 (offensive); thread-safe."""

    @property
    def info(self) -> ClassifierInfo: ...

    def score_normalized(self, normalized: str) -> float: ...

    def quick_score(self, normalized: str) -> float | None:
        """The score if it is cheap (well under a millisecond: fine on the event loop), else
        None (the pipeline then calls ``score_normalized`` on a worker thread)."""


class CascadeClassifier:
    """``first``'s score when it is below ``gate`` (clearly harmless), else ``then``'s."""

    def __init__(
        self, first: TextScorer, then: TextScorer, gate: float, info: ClassifierInfo
    ) -> None:
        if not 0.0 <= gate <= 1.0:
            raise ConfigError("a classifier cascade's gate must be between 0 and 1")
        self.first, self.then, self.gate = first, then, gate
        self.info = info

    def escalates(self, normalized: str) -> tuple[float, bool]:
        """(``first``'s score, whether ``then`` must decide)."""
        score = self.first.score_normalized(normalized)
        return score, score >= self.gate

    def score_normalized(self, normalized: str) -> float:
        score, escalate = self.escalates(normalized)
        return self.then.score_normalized(normalized) if escalate else score

    def quick_score(self, normalized: str) -> float | None:
        first = self.first.quick_score(normalized)
        if first is None:
            return None
        return first if first < self.gate else self.then.quick_score(normalized)


def load_cascade(path: Path) -> CascadeClassifier:
    """A cascade file: ``{"format", "first", "then", "gate", "threshold", ...}``; the two model
    paths are relative to the file."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        if spec.get("format") != CASCADE_FORMAT:
            raise ConfigError(f"classifier cascade {path} has an unknown format")
        first = load_classifier(path.parent / spec["first"])
        then = load_classifier(path.parent / spec["then"])
        gate = float(spec["gate"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot load classifier cascade {path}: {exc}") from exc
    info = ClassifierInfo(
        trained_on=str(spec.get("trained_on", "")),
        heldout_macro_f1=float(spec.get("heldout_macro_f1", 0.0)),
        threshold=float(spec.get("threshold", 0.5)),
    )
    return CascadeClassifier(first, then, gate, info)


def load_classifier(path: Path | None = None) -> TextScorer:
    """The scorer at ``path`` (a model directory, an ``.npz`` or a ``.json`` cascade); the
    shipped cascade if None."""
    path = Path(path or DEFAULT_CASCADE)
    if path.is_dir():
        return TransformerClassifier.load(path)
    if path.suffix == ".json":
        return load_cascade(path)
    return OffensiveClassifier.load(path)
