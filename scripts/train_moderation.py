"""Train the offensive-language classifier shipped in bot/moderation/data/classifier.npz.

    python scripts/train_moderation.py [--data-dir ../shared/moderation] [--out PATH]

Fits an NB-weighted logistic regression on word and character n-grams. Holds out a seeded stratified 20 % of OLID (never trained on, see bot.moderation.training),
picks C on a validation slice of the training part, refits on the whole training part and
reports macro-F1 on the held-out split. Weights are saved as .npz without pickle.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from bot.moderation import training
from bot.moderation.classifier import DEFAULT_MODEL_PATH, OffensiveClassifier

log = logging.getLogger("train_moderation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/moderation"))
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
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
            (float(f1_score(val_part.labels, val_scores >= t, average="macro")), round(t, 2))
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
    heldout_f1 = float(f1_score(heldout.labels, scores >= threshold, average="macro"))
    at_half = float(f1_score(heldout.labels, scores >= 0.5, average="macro"))
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
