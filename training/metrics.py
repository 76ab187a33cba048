"""Multi-label metrics: per label precision/recall/F1/support/average precision, micro and macro."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support


def compute_metrics(Y: np.ndarray, P: np.ndarray, thresholds, labels: list[str]) -> dict:
    """Metrics of probabilities `P` against indicators `Y` at the given per-label thresholds."""
    predicted = (np.asarray(thresholds) <= P).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(Y, predicted, average=None, zero_division=0)
    per_label = {}
    for j, label in enumerate(labels):
        # Average precision is undefined without a positive row: None (JSON null), not NaN (not JSON).
        ap = round(float(average_precision_score(Y[:, j], P[:, j])), 4) if Y[:, j].any() else None
        per_label[label] = {
            "precision": round(float(precision[j]), 4),
            "recall": round(float(recall[j]), 4),
            "f1": round(float(f1[j]), 4),
            "support": int(support[j]),
            "average_precision": ap,
        }
    summary = {"labels": per_label, "rows": len(Y)}
    for average in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(Y, predicted, average=average, zero_division=0)
        summary[average] = {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4)}
    return summary


def format_number(value: float | None) -> str:
    """A figure with three decimals, or "n/a" where it is undefined (None)."""
    return "n/a" if value is None else f"{value:.3f}"


def format_metrics(metrics: dict, title: str = "") -> str:
    """A plain-text table of `compute_metrics` output."""
    lines = [title] if title else []
    lines.append(f"{'label':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}{'avg prec':>10}")
    for label, m in metrics["labels"].items():
        lines.append(
            f"{label:<24}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9}"
            f"{format_number(m['average_precision']):>10}"
        )
    for average in ("micro", "macro"):
        m = metrics[average]
        lines.append(f"{average + ' avg':<24}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}")
    return "\n".join(lines)
