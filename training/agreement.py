"""Inter-annotator agreement over the feedback's passages (`training.feedback.Passage`), per label.

Only passages labelled by at least two named annotators count. Per label, each passage gives each of
its annotators a yes/no decision, and:

- **Cohen's kappa** of every pair of annotators over the passages both labelled
  (`sklearn.metrics.cohen_kappa_score`);
- **Krippendorff's alpha** (nominal) over all annotators at once, a missing decision where an annotator did
  not label a passage (the `krippendorff` package);
- each annotator's **agreement with the consensus**: the share of their decisions that match it, where
  the consensus of a passage is its adjudicated labels when an adjudicator resolved it, else the majority
  of its annotators (a tie gives no consensus on that label, and the decision is not counted).

A statistic that is undefined (every decision the same: kappa's and alpha's chance agreement is total) is
``None``.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations

import numpy as np

from training.feedback import Passage


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def cohen_kappa(first: list[int], second: list[int]) -> float | None:
    """Cohen's kappa of two annotators' 0/1 decisions (None when undefined)."""
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():  # undefined (one value only) is answered as None, not warned about
        warnings.simplefilter("ignore")
        return _finite(cohen_kappa_score(first, second, labels=[0, 1], replace_undefined_by=np.nan))


def krippendorff_alpha(reliability: np.ndarray) -> float | None:
    """Nominal Krippendorff's alpha of an (annotators x passages) matrix of 0/1, NaN where missing."""
    import krippendorff

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _finite(krippendorff.alpha(reliability_data=reliability, value_domain=[0, 1],
                                              level_of_measurement="nominal"))  # fmt: skip
    except ValueError:  # fewer than two values or pairable units
        return None


def consensus(passage: Passage, label: str) -> int | None:
    """A passage's consensus on `label` (1/0): adjudicated, else the majority; None on a tie."""
    if passage.adjudication is not None:
        return int(label in passage.adjudication["labels"])
    votes = [label in labels for labels in passage.labels_by_annotator().values()]
    yes = sum(votes)
    if 2 * yes == len(votes):
        return None
    return int(2 * yes > len(votes))


def agreement(passages: list[Passage], labels: list[str]) -> dict:
    """The agreement report (module docstring) of `passages` for `labels`."""
    shared = [p for p in passages if p.named and len(p.labels_by_annotator()) >= 2]
    given = [p.labels_by_annotator() for p in shared]
    annotators = sorted({name for by_name in given for name in by_name})
    per_label = {}
    for label in labels:
        matrix = np.full((len(annotators), len(shared)), np.nan)
        for j, by_name in enumerate(given):
            for name, chosen in by_name.items():
                matrix[annotators.index(name), j] = int(label in chosen)
        pairs = []
        for a, b in combinations(range(len(annotators)), 2):
            both = ~np.isnan(matrix[a]) & ~np.isnan(matrix[b])
            if both.any():
                kappa = cohen_kappa(matrix[a, both].astype(int).tolist(), matrix[b, both].astype(int).tolist())
                agree = float((matrix[a, both] == matrix[b, both]).mean())
                pairs.append({"annotators": [annotators[a], annotators[b]], "passages": int(both.sum()),
                              "observed_agreement": agree, "kappa": kappa})  # fmt: skip
        per_label[label] = {
            "passages": len(shared),
            "positive_decisions": int(np.nansum(matrix)),
            "alpha": krippendorff_alpha(matrix) if shared else None,
            "pairs": pairs,
        }
    with_consensus = {}
    for name in annotators:
        decisions = agreed = 0
        for passage, by_name in zip(shared, given, strict=True):
            if name not in by_name:
                continue
            for label in labels:
                expected = consensus(passage, label)
                if expected is None:
                    continue
                decisions += 1
                agreed += int(label in by_name[name]) == expected
        with_consensus[name] = {
            "passages": sum(name in by_name for by_name in given),
            "decisions": decisions,
            "agreed": agreed,
            "agreement": agreed / decisions if decisions else None,
        }
    return {
        "passages": len(shared),
        "annotators": annotators,
        "labels": per_label,
        "consensus": with_consensus,
    }
