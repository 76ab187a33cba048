"""The label-error screen: rows whose given labels the model's out-of-fold probabilities contradict most.

Every row gets probabilities from a fold model that did not see it (grouped K-fold cross-validation, a
document never split, rows flagged ``unsure`` scored but not trained on, as in training); cleanlab's
multi-label confident learning (`cleanlab.multilabel_classification.filter.find_label_issues`, the
one-vs-rest reduction that ``cleanlab.filter.find_label_issues(..., multi_label=True)`` runs and now
points to) flags the rows whose labels are likely wrong, ranked by cleanlab's label quality score
(`cleanlab.multilabel_classification.rank.get_label_quality_scores`, self-confidence: lowest first).
A row's *suggested* labels are those whose out-of-fold probability reaches the label's threshold, chosen
on the same out-of-fold probabilities as training chooses it (best F1). The screen only ranks: nothing is
relabelled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.data import Dataset


def out_of_fold(dataset: Dataset, cv: int = 5, n_jobs: int = 2, params: dict | None = None,
                progress: Callable[[str], None] | None = None) -> np.ndarray:  # fmt: skip
    """Out-of-fold probabilities (rows x labels) of every row of `dataset`, from grouped `cv`-fold models."""
    from classifier.estimator import AlertClassifier
    from training.splits import grouped_folds, out_of_fold_proba
    from training.train import DEFAULT_PARAMS

    Y, groups, trains = dataset.Y, dataset.groups, ~dataset.unsure
    if len(set(groups)) < cv:
        raise ValueError(
            f"the screen needs at least {cv} documents for {cv}-fold cross-validation, got {len(set(groups))}"
        )
    folds = [(train[trains[train]], test) for train, test in grouped_folds(Y, groups, cv)]
    estimator = AlertClassifier(**{**DEFAULT_PARAMS, **(params or {})})
    return out_of_fold_proba(estimator, dataset.texts, Y, dataset.labels, folds, n_jobs=n_jobs, progress=progress,
                             desc="label-issues cross-validation")  # fmt: skip


def find_issues(dataset: Dataset, oof: np.ndarray) -> dict:
    """The screen's report: rows, thresholds, how many rows cleanlab flags and the flagged rows, worst first.

    Each issue: ``rank``, ``id``, ``text``, ``given`` labels, ``suggested`` labels, the out-of-fold
    ``scores``, ``quality`` (cleanlab's label quality, 0..1, low = likely wrong), ``source``, ``line``,
    ``lang`` and ``feedback`` (whether the row came from the service's feedback).
    """
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    from training.thresholds import choose_thresholds

    labels, Y = dataset.labels, dataset.Y
    given = [np.flatnonzero(row).tolist() for row in Y]
    ranked = find_label_issues(labels=given, pred_probs=oof, return_indices_ranked_by="self_confidence", n_jobs=1)
    quality = get_label_quality_scores(given, oof)
    policy = choose_thresholds(Y, oof, labels, {})
    thresholds = np.array([policy[label]["threshold"] for label in labels])
    issues = []
    for rank, i in enumerate(ranked, start=1):
        example = dataset.examples[int(i)]
        issues.append(
            {
                "rank": rank,
                "id": example.id,
                "text": example.text,
                "given": list(example.labels),
                "suggested": [label for j, label in enumerate(labels) if oof[i, j] >= thresholds[j]],
                "scores": {label: round(float(oof[i, j]), 6) for j, label in enumerate(labels)},
                "quality": round(float(quality[i]), 6),
                "source": example.source,
                "line": example.line,
                "lang": example.lang,
                "feedback": bool(example.added),
            }
        )
    flagged_labels = {
        label: sum(1 for issue in issues if (label in issue["given"]) != (label in issue["suggested"]))
        for label in labels
    }
    return {
        "rows": len(dataset.examples),
        "labels": list(labels),
        "thresholds": {label: round(float(t), 6) for label, t in zip(labels, thresholds, strict=True)},
        "flagged": len(issues),
        "flagged_feedback": sum(issue["feedback"] for issue in issues),
        "flagged_by_label": flagged_labels,
        "issues": issues,
    }


def screen(dataset: Dataset, cv: int = 5, n_jobs: int = 2, params: dict | None = None,
           progress: Callable[[str], None] | None = None) -> dict:  # fmt: skip
    """Out-of-fold probabilities, then `find_issues`: the whole screen of `dataset`."""
    return find_issues(dataset, out_of_fold(dataset, cv, n_jobs, params, progress))
