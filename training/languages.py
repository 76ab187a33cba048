"""Languages in training: which ones a model supports, their thresholds, and their figures.

- A language is **supported** when the training data has at least `min_rows` rows of it
  (`HTA_MIN_LANGUAGE_ROWS`, default 200): the model then scores its passages; passages in any other
  language are flagged unsupported instead of being given scores the model cannot back
  (`classifier.predictor`).
- A supported language gets its **own threshold** for a label when its development rows hold at least
  `THRESHOLD_MIN_POSITIVES` positives of that label: chosen on its rows' out-of-fold scores with the same
  policy as the global one. Otherwise the label's global threshold applies to it.
- Figures (cross-validation and held-out) are computed per language for every language with at least
  `min_rows` rows, as for the whole data.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from training.metrics import compute_metrics
from training.thresholds import choose_thresholds

# Positives of a label a language's development rows need for a threshold of its own: fewer and the
# best-F1 threshold moves with one or two rows.
THRESHOLD_MIN_POSITIVES = 30


def language_table(langs: np.ndarray, Y: np.ndarray, labels: list[str], min_rows: int) -> dict[str, dict]:
    """Per language (most rows first): rows, label counts and whether it is supported."""
    counts = Counter(langs.tolist())
    table = {}
    for code, rows in counts.most_common():
        mask = langs == code
        table[str(code)] = {
            "rows": int(rows),
            "label_counts": {label: int(Y[mask, j].sum()) for j, label in enumerate(labels)},
            "supported": code is not None and rows >= min_rows,
        }
    return table


def supported_languages(table: dict[str, dict]) -> list[str]:
    """The supported language codes, sorted."""
    return sorted(code for code, entry in table.items() if entry["supported"])


def language_thresholds(
    Y: np.ndarray,
    P: np.ndarray,
    langs: np.ndarray,
    labels: list[str],
    supported: list[str],
    min_recall: dict[str, float],
    sample_weight: np.ndarray | None = None,
    min_positives: int = THRESHOLD_MIN_POSITIVES,
) -> dict[str, dict[str, dict]]:
    """Per supported language, the labels that get a threshold of their own: ``{lang: {label: policy}}``
    (`choose_thresholds` entries), from its rows' out-of-fold scores `P`."""
    chosen: dict[str, dict[str, dict]] = {}
    if len(supported) < 2:  # one language: its thresholds are the global ones
        return chosen
    for code in supported:
        rows = np.flatnonzero(langs == code)
        enough = [j for j, _ in enumerate(labels) if Y[rows, j].sum() >= min_positives]
        if not enough:
            continue
        weight = None if sample_weight is None else sample_weight[rows]
        policy = choose_thresholds(Y[rows], P[rows], labels, min_recall, sample_weight=weight)
        chosen[code] = {labels[j]: policy[labels[j]] for j in enough}
    return chosen


def metrics_by_language(
    Y: np.ndarray, P: np.ndarray, thresholds: np.ndarray, langs: np.ndarray, labels: list[str], min_rows: int
) -> dict[str, dict]:
    """`compute_metrics` per language with at least `min_rows` rows here, plus ``macro_f1_with_positives``:
    macro-F1 over the labels with a positive row in that language (F1 is undefined for the others)."""
    out = {}
    for code, rows in Counter(langs.tolist()).most_common():
        if code is None or rows < min_rows:
            continue
        mask = langs == code
        figures = compute_metrics(Y[mask], P[mask], thresholds[mask], labels)
        with_positives = [figures["labels"][label]["f1"] for j, label in enumerate(labels) if Y[mask, j].any()]
        figures["macro_f1_with_positives"] = round(float(np.mean(with_positives)), 4) if with_positives else None
        out[str(code)] = figures
    return out
