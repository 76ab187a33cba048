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
# Share of the feedback documents held out to judge a retrained model on the analyst's own text.
FEEDBACK_HOLDOUT_SHARE = 0.25
_FEEDBACK_SALT = "feedback-holdout:"


def _bucket(group, salt: str = "") -> int:
    """A stable number in [0, 10000) from a group name (the first 32 bits of its salted sha256)."""
    return int(hashlib.sha256((salt + str(group)).encode()).hexdigest()[:8], 16) % 10_000


def holdout_mask(groups, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """True for rows whose group falls in the fixed held-out split.

    Membership is a hash of the group name alone, so it never changes when rows are added (feedback,
    new documents): every model version is judged on the same documents.
    """
    cut = int(share * 10_000)
    return np.array([_bucket(g) < cut for g in groups], dtype=bool)


def feedback_holdout_mask(groups, share: float = FEEDBACK_HOLDOUT_SHARE) -> np.ndarray:
    """True for feedback rows whose document falls in the in-register held-out set.

    A salted hash of the document alone (independent of the base split's), so a feedback document is
    held out in every retrain or in none: no model's held-out figures ever come from its own training rows.
    """
    cut = int(share * 10_000)
    return np.array([_bucket(g, _FEEDBACK_SALT) < cut for g in groups], dtype=bool)


def crossfit_fold_of(groups, k: int) -> np.ndarray:
    """The cross-fitting fold (0..k-1) of each feedback row: a salted hash of its document, so a document's
    rows share a fold and a document keeps its fold when other feedback comes in."""
    return np.array([_bucket(g, "crossfit:") % k for g in groups], dtype=int)


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


def stable_folds(
    Y: np.ndarray, groups, is_base: np.ndarray, k: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped folds whose base rows are split exactly as they would be without the added rows.

    Base rows get `grouped_folds` of the base rows alone; each added row (feedback) joins the fold its
    document hashes to. Adding a few rows therefore moves no base row to another fold, and the
    out-of-fold scores (and the thresholds chosen on them) change only by what the new rows teach.
    """
    base = np.flatnonzero(is_base)
    added = np.flatnonzero(~is_base)
    fold_of = np.empty(len(Y), dtype=int)
    for fold, (_, test) in enumerate(grouped_folds(Y[base], np.asarray(groups)[base], k, seed)):
        fold_of[base[test]] = fold
    fold_of[added] = [_bucket(g, "fold:") % k for g in np.asarray(groups)[added]]
    rows = np.arange(len(Y))
    return [(rows[fold_of != fold], rows[fold_of == fold]) for fold in range(k)]


def _fit_predict(estimator, texts, Y, labels, train_idx, test_idx, sample_weight=None):
    weight = None if sample_weight is None else sample_weight[train_idx]
    model = clone(estimator).fit([texts[i] for i in train_idx], Y[train_idx], labels=labels, sample_weight=weight)
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
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Probabilities for every row from the fold model that did not see it.

    `sample_weight` (one per row of `texts`, or None for all 1) weighs the rows each fold model trains on.
    """
    oof = np.zeros(Y.shape, dtype=float)
    tasks = (delayed(_fit_predict)(estimator, texts, Y, labels, tr, te, sample_weight) for tr, te in folds)
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)
    for done, (test_idx, proba) in enumerate(results, start=1):
        oof[test_idx] = proba
        if progress:
            progress(f"{desc}: fold {done}/{len(folds)} done")
    return oof


def stderr_progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
