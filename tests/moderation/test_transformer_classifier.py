"""The fine-tuned transformer classifier: export format, windows, the shipped model, training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bot.errors import ConfigError
from bot.moderation.normalize import classifier_text
from bot.moderation.scoring import load_classifier
from bot.moderation.transformer_classifier import (
    DEFAULT_MODEL_DIR,
    TransformerClassifier,
    emoji_words,
    pack_state,
    unpack_state,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii stays as it is", "plain ascii stays as it is"),
        ("you 🤡", "you clown face"),
        ("lol 😂😂 😂 ok", "lol face with tears of joy ok"),  # a run reads once
        ("🖕🏽 off", "reversed hand with middle finger extended off"),  # skin tone dropped
        ("🔥🤬", "fire serious face with symbols covering mouth"),
        (
            "café ☕ and 😂 then 😂",
            "café hot beverage and face with tears of joy then face with tears of joy",
        ),
    ],
)
def test_emoji_are_spelled_out_for_the_wordpiece_vocabulary(text: str, expected: str) -> None:
    assert emoji_words(text) == expected


@pytest.fixture(scope="module")
def classifier() -> TransformerClassifier:
    return TransformerClassifier.load()


def test_int8_packing_round_trips_within_one_quantisation_step() -> None:
    torch.manual_seed(0)
    state = {
        "encoder.layer.0.attention.self.query.weight": torch.randn(8, 16),
        "encoder.embeddings.word_embeddings.weight": torch.randn(30, 16),
        "encoder.embeddings.LayerNorm.weight": torch.randn(16),
        "head.weight": torch.randn(1, 16),
    }
    packed = pack_state(state)
    assert packed["encoder.layer.0.attention.self.query.weight.qweight"].dtype == torch.int8
    assert "head.weight" in packed  # the head stays float32
    restored = unpack_state(packed)
    assert restored.keys() == state.keys()
    for name, tensor in state.items():
        step = tensor.abs().amax(dim=-1, keepdim=True) / 127
        assert torch.all((restored[name] - tensor).abs() <= step / 2 + 1e-6), name


def test_shipped_model_is_the_default_and_reports_its_heldout_score(
    classifier: TransformerClassifier,
) -> None:
    assert load_classifier(DEFAULT_MODEL_DIR) is classifier  # loaded once per process
    fresh = classifier_text("a text this test scores for the first time")
    assert classifier.quick_score(fresh) is None  # not cheap: the pipeline uses a thread
    assert classifier.quick_score(fresh) is None
    score = classifier.score_normalized(fresh)
    assert classifier.quick_score(fresh) == score  # remembered once scored
    assert classifier.info.heldout_macro_f1 > 0.7
    assert "OLID" in classifier.info.trained_on
    assert 0.0 < classifier.info.threshold < 1.0
    size = sum(f.stat().st_size for f in DEFAULT_MODEL_DIR.iterdir())
    assert size < 30_000_000


def test_insults_score_higher_than_friendly_and_story_text(
    classifier: TransformerClassifier,
) -> None:
    insults = ["you are a worthless idiot", "shut up you stupid loser, nobody likes you"]
    friendly = [
        "thank you so much, that was a lovely story",
        "The knight slew the dragon and the village cheered.",
        "Lily and her dog Max found a shiny key under the big tree.",
    ]
    worst_friendly = max(classifier.score(t) for t in friendly)
    assert min(classifier.score(t) for t in insults) > worst_friendly
    assert worst_friendly < 0.5


def test_windows_cover_long_texts_and_the_worst_window_counts(
    classifier: TransformerClassifier,
) -> None:
    assert classifier.windows("") == []
    assert classifier.score("") == 0.0
    short = classifier.windows("hello there")
    assert len(short) == 1 and len(short[0]) == 4  # [CLS] hello there [SEP]
    story = " ".join(["The children walked to the river and played in the warm sun."] * 40)
    windows = classifier.windows(classifier_text(story))
    assert len(windows) > 3
    assert all(len(w) <= 96 for w in windows)
    insult = "you are a worthless stupid idiot"
    assert classifier.score(story + " " + insult) > classifier.score(story) + 0.3


def test_a_text_scores_the_same_whatever_is_scored_with_it(
    classifier: TransformerClassifier,
) -> None:
    texts = [classifier_text(t) for t in ["what a lovely day", "you stupid idiot", "", "ok"]]
    together = classifier.score_many_normalized(texts)
    alone = [classifier.score_normalized(t) for t in texts]
    assert together == alone
    assert together[2] == 0.0


def test_unusable_exports_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load"):
        TransformerClassifier.load(tmp_path / "missing")
    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_MODEL_DIR, broken)
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ConfigError, match="unknown format"):
        TransformerClassifier.load(broken)
