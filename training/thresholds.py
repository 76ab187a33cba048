"""Per-label decision thresholds chosen on out-of-fold probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

MIN_THRESHOLD, MAX_THRESHOLD = 0.01, 0.99


def best_f1_threshold(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """The threshold (score >= t is positive) with the highest (weighted) F1 on (y, p)."""
    precision, recall, thresholds = precision_recall_curve(y, p, sample_weight=sample_weight)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return _clip(float(thresholds[int(np.argmax(f1))]))


def min_recall_threshold(y: np.ndarray, p: np.ndarray, target: float, sample_weight: np.ndarray | None = None) -> float:
    """The highest threshold whose recall on (y, p) is at least `target` (best precision at that recall)."""
    _, recall, thresholds = precision_recall_curve(y, p, sample_weight=sample_weight)
    ok = np.flatnonzero(recall[:-1] >= target)
    return _clip(float(thresholds[ok[-1]])) if len(ok) else MIN_THRESHOLD


def _clip(t: float) -> float:
    return float(np.clip(t, MIN_THRESHOLD, MAX_THRESHOLD))


def parse_min_recall(specs: list[str] | None, labels: list[str]) -> dict[str, float]:
    """Parse ``LABEL=0.9`` options into {label: target}; raise ValueError naming a bad one."""
    targets: dict[str, float] = {}
    for spec in specs or []:
        label, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(f"--min-recall {spec!r}: expected LABEL=RECALL")
        if label not in labels:
            raise ValueError(f"--min-recall {spec!r}: unknown label {label!r}; labels are {labels}")
        try:
            target = float(value)
        except ValueError:
            raise ValueError(f"--min-recall {spec!r}: {value!r} is not a number") from None
        if not 0 < target <= 1:
            raise ValueError(f"--min-recall {spec!r}: recall must be in (0, 1]")
        targets[label] = target
    return targets


def choose_thresholds(
    Y: np.ndarray,
    P: np.ndarray,
    labels: list[str],
    min_recall: dict[str, float],
    sample_weight: np.ndarray | None = None,
) -> dict:
    """Threshold and policy per label: best F1 unless a minimum recall is asked for.

    `sample_weight` counts rows unequally (feedback rows count as much as they do in training).
    """
    chosen = {}
    for j, label in enumerate(labels):
        if label in min_recall:
            t = min_recall_threshold(Y[:, j], P[:, j], min_recall[label], sample_weight)
            chosen[label] = {"threshold": t, "policy": f"min_recall={min_recall[label]}"}
        else:
            chosen[label] = {"threshold": best_f1_threshold(Y[:, j], P[:, j], sample_weight), "policy": "best_f1"}
    return chosen
