"""Loading scorers by path, and the cascade that gates the transformer behind the n-gram model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.moderation.classifier import DEFAULT_MODEL_PATH, OffensiveClassifier
from bot.moderation.normalize import classifier_text
from bot.moderation.scoring import (
    CASCADE_FORMAT,
    DEFAULT_CASCADE,
    CascadeClassifier,
    load_classifier,
)
from bot.moderation.transformer_classifier import DEFAULT_MODEL_DIR, TransformerClassifier


def write_cascade(folder: Path, gate: float, **extra: object) -> Path:
    shutil.copy(DEFAULT_MODEL_PATH, folder / "ngram.npz")
    path = folder / "cascade.json"
    spec = {
        "format": CASCADE_FORMAT,
        "first": "ngram.npz",
        "then": str(DEFAULT_MODEL_DIR),
        "gate": gate,
        "threshold": 0.4,
        "heldout_macro_f1": 0.5,
        **extra,
    }
    path.write_text(json.dumps(spec))
    return path


def test_the_path_decides_the_kind() -> None:
    assert isinstance(load_classifier(DEFAULT_MODEL_DIR), TransformerClassifier)
    assert isinstance(load_classifier(DEFAULT_MODEL_PATH), OffensiveClassifier)
    default = load_classifier()
    assert isinstance(default, CascadeClassifier)
    assert default.then is TransformerClassifier.load()  # one model per process
    shipped = json.loads(DEFAULT_CASCADE.read_text())
    assert default.gate == shipped["gate"] and 0.0 < default.gate < default.info.threshold


def test_the_cascade_uses_the_cheap_score_below_the_gate_and_the_costly_one_above(
    tmp_path: Path,
) -> None:
    ngram, neural = OffensiveClassifier.load(), TransformerClassifier.load()
    story = classifier_text("The little fox ran home to its den and slept.")
    insult = classifier_text("you are a worthless stupid idiot")
    gate = (ngram.score_normalized(story) + ngram.score_normalized(insult)) / 2
    assert ngram.score_normalized(story) < gate <= ngram.score_normalized(insult)
    cascade = load_classifier(write_cascade(tmp_path, gate))
    assert isinstance(cascade, CascadeClassifier)
    assert cascade.info.threshold == 0.4
    assert cascade.escalates(story) == (ngram.score_normalized(story), False)
    assert cascade.score_normalized(story) == ngram.score_normalized(story)
    assert cascade.quick_score(story) == ngram.score_normalized(story)  # cheap: inline
    assert cascade.escalates(insult)[1] is True
    fresh = classifier_text("you are a worthless stupid idiot, truly")  # not scored before
    assert cascade.quick_score(fresh) is None  # needs the transformer: a worker thread
    assert cascade.score_normalized(insult) == neural.score_normalized(insult)
    assert cascade.quick_score(insult) == neural.score_normalized(insult)  # remembered
    everything = load_classifier(write_cascade(tmp_path, 0.0))
    assert everything.score_normalized(story) == neural.score_normalized(story)


def test_bad_cascades_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown format"):
        load_classifier(write_cascade(tmp_path, 0.3, format="other"))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_classifier(write_cascade(tmp_path, 1.5))
    with pytest.raises(ConfigError, match="cannot load"):
        load_classifier(write_cascade(tmp_path, 0.3, then="missing-dir"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load classifier cascade"):
        load_classifier(broken)
