"""Hyperparameter search by grouped cross-validation on the development rows."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import numpy as np
from sklearn.base import clone

from training.splits import out_of_fold_proba
from training.thresholds import best_f1_threshold

SEARCH_GRID = {
    "C": [3.0, 10.0, 30.0],
    "char_ngram_range": [(2, 5)],
    "char_features": [700, 1500, 5000, None],
    "word_ngram_range": [(1, 2)],
    "min_df": [2],
}


def macro_best_f1(Y: np.ndarray, P: np.ndarray) -> float:
    """Mean over labels of the F1 at each label's best threshold (what training deploys)."""
    scores = []
    for j in range(Y.shape[1]):
        t = best_f1_threshold(Y[:, j], P[:, j])
        predicted = P[:, j] >= t
        tp = float((predicted & (Y[:, j] == 1)).sum())
        scores.append(2 * tp / max(predicted.sum() + Y[:, j].sum(), 1))
    return float(np.mean(scores))


def grid_search(
    estimator,
    texts: list[str],
    Y: np.ndarray,
    labels: list[str],
    folds,
    grid: dict | None = None,
    n_jobs: int = 2,
    progress: Callable[[str], None] | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[dict, list[dict]]:
    """Try every combination of `grid`; return (best params, all results sorted best first).

    `sample_weight` (one per row, or None) weighs the rows each fold model trains on."""
    grid = grid or SEARCH_GRID
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in product(*(grid[n] for n in names))]
    results = []
    for i, params in enumerate(combos, start=1):
        candidate = clone(estimator).set_params(**params)
        oof = out_of_fold_proba(candidate, texts, Y, labels, folds, n_jobs=n_jobs, sample_weight=sample_weight)
        score = macro_best_f1(Y, oof)
        results.append({"params": params, "macro_best_f1": round(score, 4)})
        if progress:
            progress(f"search {i}/{len(combos)}: {params} -> macro F1 {score:.4f}")
    results.sort(key=lambda r: -r["macro_best_f1"])
    return results[0]["params"], results
