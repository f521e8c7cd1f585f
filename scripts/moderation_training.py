"""Training helpers for the offensive-language classifier (used by scripts/, not by the bot).

Loads the labelled CSVs, makes the seeded stratified held-out split of OLID, fits scikit-learn
TF-IDF vectorizers with the analyzers of :mod:`bot.moderation.classifier` and an NB-weighted
logistic regression, and saves vocabularies and weights as ``.npz`` without pickle.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.moderation.classifier import ANALYZERS, BLOCKS, FORMAT
from bot.moderation.normalize import classifier_text

SPLIT_SEED = 13
HELDOUT_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class LabelledTexts:
    texts: tuple[str, ...]
    labels: np.ndarray


def load_csv(path: Path) -> LabelledTexts:
    """Read a ``text,label`` CSV (label 1 = offensive)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return LabelledTexts(tuple(r["text"] for r in rows), np.array([int(r["label"]) for r in rows]))


def olid_split(data: LabelledTexts, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) of a seeded stratified split; the same on every machine."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(data.texts))
    train, heldout = train_test_split(
        index, test_size=HELDOUT_FRACTION, stratify=data.labels, random_state=seed
    )
    return np.sort(train), np.sort(heldout)


def subset(data: LabelledTexts, index: np.ndarray) -> LabelledTexts:
    return LabelledTexts(tuple(data.texts[i] for i in index), data.labels[index])


def nb_ratio(features: Any, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratio per feature (Wang & Manning 2012)."""
    pos = alpha + np.asarray(features[labels == 1].sum(0)).ravel()
    neg = alpha + np.asarray(features[labels == 0].sum(0)).ravel()
    return np.asarray(np.log((pos / pos.sum()) / (neg / neg.sum())))


@dataclass(frozen=True, slots=True)
class FittedModel:
    vectorizers: dict[str, Any]
    coef: np.ndarray  # NB ratio folded in; word block first, then char block
    bias: float

    def features(self, normalized: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([self.vectorizers[b].transform(normalized) for b in BLOCKS]).tocsr()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        logits = self.features([classifier_text(t) for t in texts]) @ self.coef + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def fit(
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    c: float = 1.0,
    min_df: int = 3,
    sample_weight: np.ndarray | None = None,
    nb: bool = True,
) -> FittedModel:
    """Fit the vectorizers and a class-balanced logistic regression on NB-weighted features."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    normalized = [classifier_text(t) for t in texts]
    vectorizers = {
        b: TfidfVectorizer(analyzer=ANALYZERS[b], min_df=min_df, sublinear_tf=True).fit(normalized)
        for b in BLOCKS
    }
    model = FittedModel(vectorizers, np.zeros(0), 0.0)
    features = model.features(normalized)
    ratio = nb_ratio(features, labels) if nb else np.ones(features.shape[1])
    regression = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    regression.fit(features.multiply(ratio).tocsr(), labels, sample_weight=sample_weight)
    return FittedModel(
        vectorizers, regression.coef_.ravel() * ratio, float(regression.intercept_[0])
    )


def save(model: FittedModel, path: Path, meta: dict[str, Any]) -> None:
    """Write vocabularies (JSON strings), IDF and coefficients to a compressed ``.npz``."""
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for block in BLOCKS:
        vectorizer = model.vectorizers[block]
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        arrays[f"{block}_vocabulary"] = np.array(json.dumps(terms, ensure_ascii=False))
        arrays[f"{block}_idf"] = vectorizer.idf_.astype(np.float32)
        arrays[f"{block}_coef"] = model.coef[offset : offset + len(terms)].astype(np.float32)
        offset += len(terms)
    arrays["bias"] = np.array([model.bias], dtype=np.float64)
    arrays["meta"] = np.array(json.dumps({**meta, "format": FORMAT}))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def story_sentences(
    corpus_dir: Path, count: int, *, skip: int = 0, seed: int = SPLIT_SEED
) -> tuple[str, ...]:
    """``count`` sentences from the story corpus (fairy tales, children's stories) after ``skip``.

    Used as harmless examples so that story violence ("the wolf ate her up") and old-fashioned
    words are not mistaken for abuse. The order is a seeded shuffle, so the training script
    (first ``count``) and the evaluation (``skip`` = that count) never share a sentence.
    Sentences that hit the built-in word list are dropped.
    """
    import random

    import regex

    from bot.moderation.keywords import builtin_keywords
    from bot.moderation.normalize import normalize

    pool: list[str] = []
    for name in ("gutenberg_stories.txt", "tinystories_train.txt"):
        text = (corpus_dir / name).read_text(encoding="utf-8").replace("<|endoftext|>", "\n")
        for sentence in regex.split(r"(?<=[.!?])\s+|\n\s*\n", text):
            sentence = " ".join(sentence.split())
            if 30 <= len(sentence) <= 280:
                pool.append(sentence)
    random.Random(seed).shuffle(pool)
    keywords = builtin_keywords()
    clean = (s for s in pool if not keywords.find_normalized(normalize(s)))
    selected: list[str] = []
    for index, sentence in enumerate(clean):
        if index >= skip + count:
            break
        if index >= skip:
            selected.append(sentence)
    return tuple(selected)
