"""Per-source thresholds: a register's own decision thresholds, tuned on its feedback.

Feedback rows name the register their document comes from (`source`; `training.feedback`). A source gets
its own threshold for a label when its feedback holds at least `min_positives` positives of that label
(`HTA_SOURCE_THRESHOLD_LABELS`): chosen on that source's rows' cross-validated predictions (by models that
did not see the row's document) with the same policy as the global thresholds. The other labels of the
source keep the language's or the global threshold. A prediction that names the source is decided with
them (`classifier.predictor.Predictor`, the `source` of POST /v1/predict); the promotion gate judges with
them (`training.promotion`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from training.thresholds import choose_thresholds

# The `source` of feedback whose register was not named: it gets no thresholds of its own.
UNNAMED_SOURCES = frozenset({"", "feedback", "unknown"})


def source_thresholds(
    Y: np.ndarray,
    P: np.ndarray,
    sources: np.ndarray,
    labels: list[str],
    min_positives: int,
    min_recall: dict[str, float] | None = None,
) -> dict[str, dict[str, dict]]:
    """Per named source of the rows, the labels with at least `min_positives` positives there and their
    policy: ``{source: {label: {"threshold", "policy", "positives", "rows"}}}``; `P` holds the rows'
    cross-validated probabilities. `min_positives` 0 turns per-source thresholds off."""
    chosen: dict[str, dict[str, dict]] = {}
    if min_positives <= 0 or not len(Y):
        return chosen
    for source in sorted({str(s) for s in sources.tolist()} - UNNAMED_SOURCES):
        rows = np.flatnonzero(sources == source)
        enough = [j for j in range(len(labels)) if Y[rows, j].sum() >= min_positives]
        if not enough:
            continue
        policy = choose_thresholds(Y[rows][:, enough], P[rows][:, enough], [labels[j] for j in enough],
                                   min_recall or {})  # fmt: skip
        chosen[source] = {
            labels[j]: {**policy[labels[j]], "positives": int(Y[rows, j].sum()), "rows": len(rows)} for j in enough
        }
    return chosen


def thresholds_only(policy: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """``{source: {label: threshold}}`` of a `source_thresholds` result (what the manifest stores)."""
    return {source: {label: float(p["threshold"]) for label, p in own.items()} for source, own in policy.items()}


def row_digest(text: str, labels: list[str]) -> str:
    """A short digest of a labelled row (its text and sorted labels): which feedback rows a version trained
    on, so that a later gate judges it only on rows it never saw."""
    payload = text + "\x1f" + json.dumps(sorted(labels))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
