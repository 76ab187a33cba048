"""Grouped splits: the fixed held-out split and the cross-validation folds (a group never straddles)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

HOLDOUT_SHARE = 0.2


def holdout_mask(groups, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """True for rows whose group falls in the fixed held-out split.

    Membership is a hash of the group name alone, so it never changes when rows are added (feedback,
    new documents): every model version is judged on the same documents.
    """
    cut = int(share * 10_000)
    return np.array([int(hashlib.sha256(str(g).encode()).hexdigest()[:8], 16) % 10_000 < cut for g in groups])


def stratification_key(Y: np.ndarray) -> np.ndarray:
    """One class per row for stratifying multi-label data: its rarest label, or -1 for none."""
    order = np.argsort(Y.sum(axis=0))  # rarest label first
    key = np.full(len(Y), -1)
    for j in order[::-1]:
        key[Y[:, j] == 1] = j
    return key


def grouped_folds(Y: np.ndarray, groups, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K grouped folds, stratified on each row's rarest label, as (train_idx, test_idx) pairs."""
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(Y)), stratification_key(Y), groups))


def _fit_predict(estimator, texts, Y, labels, train_idx, test_idx):
    model = clone(estimator).fit([texts[i] for i in train_idx], Y[train_idx], labels=labels)
    return test_idx, model.predict_proba([texts[i] for i in test_idx])


def out_of_fold_proba(
    estimator,
    texts: list[str],
    Y: np.ndarray,
    labels: list[str],
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_jobs: int = 2,
    progress: Callable[[str], None] | None = None,
    desc: str = "cross-validation",
) -> np.ndarray:
    """Probabilities for every row from the fold model that did not see it."""
    oof = np.zeros(Y.shape, dtype=float)
    tasks = (delayed(_fit_predict)(estimator, texts, Y, labels, tr, te) for tr, te in folds)
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)
    for done, (test_idx, proba) in enumerate(results, start=1):
        oof[test_idx] = proba
        if progress:
            progress(f"{desc}: fold {done}/{len(folds)} done")
    return oof


def stderr_progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
