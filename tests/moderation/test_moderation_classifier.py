import numpy as np
import pytest

from bot.errors import ConfigError
from bot.moderation.classifier import (
    DEFAULT_MODEL_PATH,
    OffensiveClassifier,
    char_ngrams,
    word_ngrams,
)


@pytest.fixture(scope="module")
def classifier() -> OffensiveClassifier:
    return OffensiveClassifier.load()


def test_shipped_model_loads_with_its_metadata(classifier: OffensiveClassifier) -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size < 5_000_000
    assert "OLID" in classifier.info.trained_on
    assert classifier.info.heldout_macro_f1 > 0.7


def test_insults_score_higher_than_friendly_text(classifier: OffensiveClassifier) -> None:
    insults = ["you are a stupid worthless idiot", "shut up you pathetic moron"]
    friendly = ["thank you for the lovely story", "the sun rose over the quiet village"]
    low = max(classifier.score(t) for t in friendly)
    high = min(classifier.score(t) for t in insults)
    assert high > 0.9 > 0.6 > low


def test_scores_are_probabilities(classifier: OffensiveClassifier) -> None:
    for text in ["", "   ", "a", "😀" * 50, "word " * 2000]:
        assert 0.0 <= classifier.score(text) <= 1.0


def test_analyzers_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    text = "the  knight's sword, it glowed! a  b"
    words = CountVectorizer(ngram_range=(1, 2)).build_analyzer()(text)
    chars = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()(text)
    assert word_ngrams(text) == words
    assert char_ngrams(text) == chars


def test_unreadable_model_raises_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(2))
    with pytest.raises(ConfigError):
        OffensiveClassifier.load(bad)
    with pytest.raises(ConfigError):
        OffensiveClassifier.load(tmp_path / "missing.npz")
