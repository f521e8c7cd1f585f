"""Loading scorers by path, and blends of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.moderation.classifier import DEFAULT_MODEL_PATH, OffensiveClassifier
from bot.moderation.normalize import classifier_text
from bot.moderation.scoring import BLEND_FORMAT, BlendedClassifier, load_classifier
from bot.moderation.transformer_classifier import DEFAULT_MODEL_DIR, TransformerClassifier


def write_blend(folder: Path, weights: tuple[float, float], **extra: object) -> Path:
    shutil.copy(DEFAULT_MODEL_PATH, folder / "ngram.npz")
    path = folder / "blend.json"
    spec = {
        "format": BLEND_FORMAT,
        "parts": [
            {"path": str(DEFAULT_MODEL_DIR), "weight": weights[0]},
            {"path": "ngram.npz", "weight": weights[1]},
        ],
        "threshold": 0.4,
        "heldout_macro_f1": 0.5,
        **extra,
    }
    path.write_text(json.dumps(spec))
    return path


def test_the_path_decides_the_kind() -> None:
    assert isinstance(load_classifier(DEFAULT_MODEL_DIR), TransformerClassifier)
    assert isinstance(load_classifier(DEFAULT_MODEL_PATH), OffensiveClassifier)
    assert isinstance(load_classifier(), TransformerClassifier)


def test_a_blend_is_the_normalised_weighted_mean_of_its_parts(tmp_path: Path) -> None:
    blend = load_classifier(write_blend(tmp_path, (3.0, 1.0)))
    assert isinstance(blend, BlendedClassifier)
    assert blend.info.threshold == 0.4
    assert [round(w, 2) for _, w in blend.parts] == [0.75, 0.25]
    neural, ngram = TransformerClassifier.load(), OffensiveClassifier.load(tmp_path / "ngram.npz")
    for text in ("you are a worthless idiot", "the fox ran home to its den"):
        normalized = classifier_text(text)
        expected = 0.75 * neural.score_normalized(normalized) + 0.25 * ngram.score_normalized(
            normalized
        )
        assert blend.score_normalized(normalized) == pytest.approx(expected)


def test_zero_weight_parts_are_not_loaded_and_inline_follows_the_parts(tmp_path: Path) -> None:
    only_ngram = load_classifier(write_blend(tmp_path, (0.0, 1.0)))
    assert isinstance(only_ngram, BlendedClassifier)
    assert len(only_ngram.parts) == 1 and only_ngram.runs_inline is True


def test_bad_blends_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown format"):
        load_classifier(write_blend(tmp_path, (1.0, 1.0), format="other"))
    with pytest.raises(ConfigError, match="positive weights"):
        load_classifier(write_blend(tmp_path, (0.0, 0.0)))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load classifier blend"):
        load_classifier(broken)
