"""A small learned classifier for offensive language that needs only numpy at inference.

Features are word uni/bi-grams and character 2-5-grams within word boundaries of the normalised
text (the same analyzers ``scripts/train_moderation.py`` handed to scikit-learn), weighted by
sublinear TF-IDF and L2-normalised per block. The model is a logistic regression over NB-weighted
features (NB-LR); the NB ratios are folded into the coefficients. Weights are stored without
pickle in ``data/classifier.npz``: vocabularies as JSON strings, IDF and coefficients as arrays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import regex

from bot.errors import ConfigError
from bot.moderation.normalize import classifier_text

DEFAULT_MODEL_PATH = Path(__file__).parent / "data" / "classifier.npz"
FORMAT = "storyloom-nblr-1"
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
BLOCKS = ("word", "char")
_TOKEN = regex.compile(r"(?u)\b\w\w+\b")


def word_ngrams(text: str) -> list[str]:
    """Word uni- and bi-grams (scikit-learn's default token pattern)."""
    tokens = _TOKEN.findall(text)
    grams = list(tokens)
    for n in range(2, WORD_NGRAMS[1] + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def word_char_ngrams(word: str) -> list[str]:
    """Character n-grams of one space-padded word."""
    grams: list[str] = []
    padded = f" {word} "
    size = len(padded)
    for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
        if n >= size:
            grams.append(padded)
            break
        grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


def char_ngrams(text: str) -> list[str]:
    """Character n-grams inside space-padded words (scikit-learn's ``char_wb``)."""
    return [gram for word in text.split() for gram in word_char_ngrams(word)]


ANALYZERS = {"word": word_ngrams, "char": char_ngrams}


@dataclass(frozen=True, slots=True)
class ClassifierInfo:
    """What the training script recorded about the saved model."""

    trained_on: str
    heldout_macro_f1: float
    threshold: float


_WORD_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class _Block:
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    word_cache: dict[str, list[int]]

    def columns(self, grams: list[str]) -> list[int]:
        vocabulary = self.vocabulary
        return [vocabulary[g] for g in grams if g in vocabulary]

    def word_columns(self, word: str) -> list[int]:
        """Char-n-gram columns of one word, cached (words repeat; this is the hot path)."""
        found = self.word_cache.get(word)
        if found is None:
            if len(self.word_cache) >= _WORD_CACHE_SIZE:
                self.word_cache.clear()
            found = self.word_cache[word] = self.columns(word_char_ngrams(word))
        return found

    def logit(self, columns: list[int]) -> float:
        counts: dict[int, int] = {}
        for column in columns:
            counts[column] = counts.get(column, 0) + 1
        if not counts:
            return 0.0
        index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[index]
        return float(values @ self.coef[index]) / math.sqrt(float(values @ values))


class OffensiveClassifier:
    """Scores a text from 0 (harmless) to 1 (offensive). Thread-safe: read-only after load."""

    def __init__(self, blocks: dict[str, _Block], bias: float, info: ClassifierInfo) -> None:
        self._blocks = blocks
        self._bias = bias
        self.info = info

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL_PATH) -> OffensiveClassifier:
        """Load weights written by ``scripts/train_moderation.py``; ConfigError if unusable."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    raise ConfigError(f"classifier at {path} has an unknown format")
                blocks = {}
                for name in BLOCKS:
                    terms = json.loads(str(data[f"{name}_vocabulary"]))
                    blocks[name] = _Block(
                        {term: i for i, term in enumerate(terms)},
                        data[f"{name}_idf"].astype(np.float64),
                        data[f"{name}_coef"].astype(np.float64),
                        {},
                    )
                bias = float(data["bias"][0])
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"cannot load moderation classifier from {path}: {exc}") from exc
        info = ClassifierInfo(
            trained_on=str(meta.get("trained_on", "")),
            heldout_macro_f1=float(meta.get("heldout_macro_f1", 0.0)),
            threshold=float(meta.get("threshold", 0.5)),
        )
        return cls(blocks, bias, info)

    def score_normalized(self, normalized: str) -> float:
        """Probability-like score for a text already passed through ``classifier_text``."""
        words, chars = self._blocks["word"], self._blocks["char"]
        char_columns = [c for w in normalized.split() for c in chars.word_columns(w)]
        logit = (
            self._bias
            + words.logit(words.columns(word_ngrams(normalized)))
            + chars.logit(char_columns)
        )
        return 1.0 / (1.0 + math.exp(-max(logit, -50.0)))

    def quick_score(self, normalized: str) -> float:
        """The score: always cheap (a fraction of a millisecond), fine on the event loop."""
        return self.score_normalized(normalized)

    def score(self, text: str) -> float:
        """Probability-like score that ``text`` is offensive."""
        return self.score_normalized(classifier_text(text))
