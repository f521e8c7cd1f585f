"""Evaluate moderation: held-out OLID, own obfuscation and benign-story cases, latency.

    python scripts/eval_moderation.py [--data-dir ../shared/moderation] [--stories-dir ../shared/corpus]

Prints precision / recall / F1 / false-positive rate and per-message latency (p50/p95) and
writes them as JSON to bench/results/moderation_eval.json. The OLID split is the one
scripts/train_moderation.py held out (same seed); story sentences are taken from beyond the
ones the training script used.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import moderation_training as training
import numpy as np
import torch
from tqdm import tqdm

from bot.moderation.classifier import DEFAULT_MODEL_PATH, OffensiveClassifier
from bot.moderation.normalize import classifier_text
from bot.moderation.pipeline import ModerationPipeline
from bot.moderation.scoring import CascadeClassifier, load_classifier
from bot.moderation.settings import ModerationSettings
from bot.moderation.transformer_classifier import TransformerClassifier
from bot.moderation.types import Direction, ModerationContext

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "moderation" / "cases"


def binary_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Precision/recall/F1 of the offensive class, macro-F1 and false-positive rate."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, average="binary", zero_division=0
    )
    negatives = labels == 0
    return {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
        "false_positive_rate": round(float(predicted[negatives].mean()), 4),
        "n": len(labels),
    }


def load_cases(name: str) -> list[dict[str, Any]]:
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 4),
        "p95_ms": round(float(np.percentile(values, 95)), 4),
        "mean_ms": round(float(values.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/moderation"))
    parser.add_argument("--stories-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument(
        "--stories-skip",
        type=int,
        default=4000,
        help="story sentences the training script used (skipped here)",
    )
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "moderation_eval.json"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="classifier to evaluate: a model dir, an .npz or a cascade .json (default: shipped)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = one core)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = ModerationSettings(classifier_path=args.model)
    pipeline = ModerationPipeline(settings)
    classifier = load_classifier(args.model)
    baseline = OffensiveClassifier.load(DEFAULT_MODEL_PATH)  # the n-gram model, side by side
    neural = TransformerClassifier.load()  # shared by the cascade; its scores are remembered
    ctx = ModerationContext(direction=Direction.INPUT)
    results: dict[str, Any] = {
        "settings": settings.model_dump(mode="json"),
        "classifier": {
            "trained_on": classifier.info.trained_on,
            "kind": type(classifier).__name__,
            "threads": torch.get_num_threads(),
        },
        "machine": {"python": platform.python_version(), "processor": platform.processor()},
    }

    olid = training.load_csv(args.data_dir / "olid_train.csv")
    _, heldout_idx = training.olid_split(olid)
    heldout = training.subset(olid, heldout_idx)
    scores, verdicts, pipeline_times, classifier_times = [], [], [], []
    baseline_scores, baseline_times = [], []
    neural_scores: list[float] = []
    neural_times: list[float] = []
    for text in tqdm(heldout.texts, desc="OLID held-out", unit="msg"):
        neural.forget()  # time the real cost, not a remembered score
        started = time.perf_counter()
        verdicts.append(pipeline.check_sync(text, ctx))
        pipeline_times.append(time.perf_counter() - started)
        neural.forget()
        started = time.perf_counter()
        scores.append(classifier.score_normalized(classifier_text(text)))
        classifier_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        baseline_scores.append(baseline.score(text))
        baseline_times.append(time.perf_counter() - started)
        neural.forget()
        started = time.perf_counter()
        neural_scores.append(neural.score(text))
        neural_times.append(time.perf_counter() - started)
    labels = heldout.labels
    score_array = np.array(scores)
    threshold = classifier.info.threshold
    results["olid_heldout"] = {
        f"classifier_at_{threshold:g}": binary_metrics(
            labels, (score_array >= threshold).astype(int)
        ),
        "classifier_at_0.5": binary_metrics(labels, (score_array >= 0.5).astype(int)),
        f"transformer_alone_at_{neural.info.threshold:g}": binary_metrics(
            labels, (np.array(neural_scores) >= neural.info.threshold).astype(int)
        ),
        "ngram_baseline_at_0.5": binary_metrics(
            labels, (np.array(baseline_scores) >= 0.5).astype(int)
        ),
        "pipeline_block": binary_metrics(labels, np.array([v.blocked for v in verdicts], int)),
        "pipeline_block_or_flag": binary_metrics(
            labels, np.array([not v.allowed for v in verdicts], int)
        ),
    }

    obfuscated = load_cases("obfuscated.jsonl")
    missed = []
    for case in tqdm(obfuscated, desc="obfuscation cases", unit="case"):
        if not pipeline.check_sync(case["text"], ctx).blocked:
            missed.append(case)
    benign = load_cases("benign.jsonl")
    benign_blocked, benign_flagged = [], []
    for case in tqdm(benign, desc="benign cases", unit="case"):
        verdict = pipeline.check_sync(case["text"], ctx)
        if verdict.blocked:
            benign_blocked.append({**case, "rule": verdict.rule, "score": verdict.score})
        elif verdict.flagged:
            benign_flagged.append({**case, "rule": verdict.rule, "score": round(verdict.score, 3)})
    results["own_cases"] = {
        "obfuscated_recall": round(1 - len(missed) / len(obfuscated), 4),
        "obfuscated_n": len(obfuscated),
        "obfuscated_missed": missed,
        "benign_false_positive_rate": round(len(benign_blocked) / len(benign), 4),
        "benign_flag_rate": round(len(benign_flagged) / len(benign), 4),
        "benign_n": len(benign),
        "benign_blocked": benign_blocked,
        "benign_flagged": benign_flagged,
    }

    story_times: list[float] = []
    if args.stories > 0 and args.stories_dir.exists():
        stories = training.story_sentences(args.stories_dir, args.stories, skip=args.stories_skip)
        story_verdicts = []
        for sentence in tqdm(stories, desc="story sentences", unit="msg"):
            neural.forget()
            started = time.perf_counter()
            story_verdicts.append(pipeline.check_sync(sentence, ctx))
            story_times.append(time.perf_counter() - started)
        results["story_sentences_heldout"] = {
            "n": len(stories),
            "block_rate": round(sum(v.blocked for v in story_verdicts) / len(stories), 4),
            "flag_rate": round(sum(v.flagged for v in story_verdicts) / len(stories), 4),
        }
        if isinstance(classifier, CascadeClassifier):
            escalated = [classifier.escalates(classifier_text(t))[1] for t in stories]
            results["story_sentences_heldout"]["transformer_share"] = round(
                sum(escalated) / len(stories), 4
            )

    normalise_times = []
    for text in heldout.texts:
        started = time.perf_counter()
        classifier_text(text)
        normalise_times.append(time.perf_counter() - started)
    results["latency_per_message"] = {
        "pipeline": percentiles_ms(pipeline_times),
        "classifier": percentiles_ms(classifier_times),
        "ngram_baseline": percentiles_ms(baseline_times),
        "transformer_alone": percentiles_ms(neural_times),
        **({"pipeline_on_story_sentences": percentiles_ms(story_times)} if story_times else {}),
        "normalisation": percentiles_ms(normalise_times),
        "classifier_share_of_pipeline": round(
            float(np.median(classifier_times) / np.median(pipeline_times)), 3
        ),
    }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report(results)
    print(f"wrote {args.out}")


def report(results: dict[str, Any]) -> None:
    for name, metrics in results["olid_heldout"].items():
        print(
            f"OLID held-out {name:24} macro-F1 {metrics['macro_f1']:.4f}  P {metrics['precision']:.3f}"
            f"  R {metrics['recall']:.3f}  F1 {metrics['f1']:.3f}  FPR {metrics['false_positive_rate']:.3f}"
        )
    own = results["own_cases"]
    print(f"obfuscated profanity caught: {own['obfuscated_recall']:.1%} of {own['obfuscated_n']}")
    for case in own["obfuscated_missed"]:
        print(f"  missed ({case['trick']}): {case['text']!r}")
    print(
        f"benign/story cases blocked: {own['benign_false_positive_rate']:.1%}, flagged: "
        f"{own['benign_flag_rate']:.1%} of {own['benign_n']}"
    )
    for case in own["benign_blocked"]:
        print(f"  blocked by {case['rule']}: {case['text']!r}")
    if "story_sentences_heldout" in results:
        story = results["story_sentences_heldout"]
        print(
            f"held-out story sentences: blocked {story['block_rate']:.1%}, flagged "
            f"{story['flag_rate']:.1%} of {story['n']}"
        )
    for name, lat in results["latency_per_message"].items():
        if isinstance(lat, dict):
            print(f"latency {name:14} p50 {lat['p50_ms']:.3f} ms  p95 {lat['p95_ms']:.3f} ms")


if __name__ == "__main__":
    main()
