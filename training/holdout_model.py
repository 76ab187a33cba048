"""The held-out model of a version: the model fit without the held-out rows, stored for the promotion gate.

A version's shipped model trains on every row, so it cannot be judged on the held-out split. The model
`training.train` fits on the development rows (the base data's 80% plus the feedback's training rows)
is the one whose held-out figures the manifest reports; it is stored beside the shipped model as a
pickle-free scorer (`holdout_scorer.npz`, written by `classifier.artifacts.VersionWriter` and listed in
the manifest like every file of a version), so a later retrain can score it and its candidate's on the
same rows, including feedback that came in since.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.artifacts import HOLDOUT_SCORER_FILE, verify_file
from classifier.scorer import LinearScorer
from training.data import Dataset


def load_holdout_scorer(version_dir: Path, manifest: dict) -> LinearScorer | None:
    """The version's held-out scorer after checking its sha256, or None for a version stored without one."""
    if HOLDOUT_SCORER_FILE not in manifest["files"]:
        return None
    path = verify_file(version_dir, HOLDOUT_SCORER_FILE, manifest)
    with np.load(path, allow_pickle=False) as arrays:
        return LinearScorer.from_arrays(arrays)


def refit_holdout_model(manifest: dict, dataset: Dataset) -> LinearScorer:
    """A stand-in held-out model for a version stored without one: its parameters and thresholds, fit on the
    development rows of the base data of `dataset` (its added rows are left out: the version's own feedback
    rows are not known). The version's labels must be the dataset's, in any order."""
    from classifier.estimator import AlertClassifier
    from training.splits import holdout_mask

    labels = list(manifest["labels"])
    if sorted(labels) != sorted(dataset.labels):
        raise ValueError(f"cannot refit a held-out model for labels {labels} on data labelled {dataset.labels}")
    Y = dataset.Y[:, [dataset.labels.index(label) for label in labels]]
    trains = ~dataset.unsure if manifest.get("unsure_rows", {}).get("policy") == "drop" else True
    keep = np.flatnonzero(~holdout_mask(dataset.groups) & ~dataset.added & trains)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest.get("params", {}).items()}
    texts = dataset.texts
    model = AlertClassifier(**params).fit([texts[i] for i in keep], Y[keep], labels=labels)
    model.set_thresholds([manifest["thresholds"][label] for label in labels])
    return LinearScorer.from_estimator(model)
