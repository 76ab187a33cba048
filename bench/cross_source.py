"""Leave-one-source-out evaluation: train on five of the corpus's sources, score the sixth, in turn.

A proxy for text from sources the model never saw (like the sealed gold set, which is not used here).
Prints per-label F1 at threshold 0.5 and at each label's best threshold, and average precision, for
training with and without the rows flagged `unsure` (they are always scored).
Usage: python bench/cross_source.py [--data FILE]   (default: the bundled corpus)
"""

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

from classifier.config import CORPUS_PATH, DEFAULT_LABELS
from classifier.estimator import AlertClassifier
from training.train import DEFAULT_PARAMS


def best_f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 at the best threshold (optimistic: chosen on the same predictions)."""
    precision, recall, _ = precision_recall_curve(y, p)
    return float((2 * precision * recall / np.maximum(precision + recall, 1e-12)).max())


def leave_one_source_out(texts, Y, sources, unsure, labels, params=None) -> np.ndarray:
    """Probabilities of every row from the model trained on the other sources' rows not flagged in `unsure`,
    with `params` (default `DEFAULT_PARAMS`; given ones override it)."""
    texts = np.asarray(texts, dtype=object)
    P = np.zeros(Y.shape)
    for source in sorted(set(sources)):
        test = sources == source
        train = ~test & ~unsure
        model = AlertClassifier(**{**DEFAULT_PARAMS, **(params or {})}).fit(texts[train], Y[train], labels=labels)
        P[test] = model.predict_proba(texts[test])
    return P


def macro_f1_at_half(Y: np.ndarray, P: np.ndarray) -> float:
    """Macro-F1 of the decisions at threshold 0.5 (the figure this benchmark reports)."""
    return float(f1_score(Y, P >= 0.5, average="macro", zero_division=0))


def main() -> None:
    """Run leave-one-source-out for both unsure-row policies and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(CORPUS_PATH), help="labelled JSONL with a source per row")
    parser.add_argument("--unsure-rows", choices=("keep", "drop", "both"), default="both",
                        help="training policies to run (default both)")  # fmt: skip
    args = parser.parse_args()
    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = list(DEFAULT_LABELS)
    texts = np.array([r["text"] for r in rows], dtype=object)
    Y = np.array([[label in r["labels"] for label in labels] for r in rows], dtype=int)
    sources = np.array([r["source"] for r in rows])
    unsure = np.array([r.get("unsure", False) for r in rows])
    for policy in ("keep", "drop") if args.unsure_rows == "both" else (args.unsure_rows,):
        P = leave_one_source_out(texts, Y, sources, unsure if policy == "drop" else np.zeros(len(Y), bool), labels)
        at_half = f1_score(Y, P >= 0.5, average=None)
        best = [best_f1(Y[:, j], P[:, j]) for j in range(len(labels))]
        ap = [average_precision_score(Y[:, j], P[:, j]) for j in range(len(labels))]
        print(f"unsure rows {policy} in training:")
        for j, label in enumerate(labels):
            print(f"  {label:<24} F1@0.5 {at_half[j]:.3f}  best F1 {best[j]:.3f}  AP {ap[j]:.3f}")
        per_source = {s: macro_f1_at_half(Y[sources == s], P[sources == s]) for s in sorted(set(sources))}
        print("  per held-out source, macro-F1@0.5: " + ", ".join(f"{s} {f:.3f}" for s, f in per_source.items()))
        print(f"  {'macro':<24} F1@0.5 {at_half.mean():.3f}  best F1 {np.mean(best):.3f}  AP {np.mean(ap):.3f}")


if __name__ == "__main__":
    main()
