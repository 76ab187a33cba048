"""A version's score reference: the distribution of its scores and its alert rate per label on its held-out rows.

The service's drift monitor (`service.monitor`) compares the recent window of live passage scores with it:
the population stability index (PSI) per label over the reference's bins, and the live alert rate over
the expected one. It is written into the manifest as ``score_reference`` by `training.train` (from the
held-out predictions it already computes for the held-out metrics) and, for a version stored before the
reference existed, by ``python -m training reference VERSION_DIR``, which scores the base data's held-out
split with the version's stored held-out model (`holdout_scorer.npz`): the very predictions behind its
held-out figures, so nothing is retrained and no figure of the version moves.

Bins are each label's reference deciles, an edge closer than `MIN_BIN_WIDTH` to the one below it left out
(0 and 1 close them): a label that rarely fires has most of its scores near 0, and equal-width bins would
put nearly all of them in the first bin, where PSI sees no shift; but deciles 0.001 apart would see one
in the jitter of tiny scores between the held-out model and the shipped one, which learnt from a quarter
more rows (on the test model's unseen corpus rows, PSI of its rarest label 0.16 with plain deciles, 0.12
with this floor, 0.04 and below for the other labels). Rows in a language the version does not read are
left out: the service scores none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.artifacts import MANIFEST_FILE, ArtifactError, read_manifest, write_json_atomic

REFERENCE_KEY = "score_reference"
QUANTILES = tuple(i / 10 for i in range(1, 10))
MIN_BIN_WIDTH = 0.01


def score_reference(probabilities: np.ndarray, thresholds: np.ndarray, labels: list[str], source: str) -> dict:
    """The reference of held-out `probabilities` (rows × labels) decided with the row `thresholds` matrix."""
    probabilities = np.asarray(probabilities, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    out: dict = {"rows": len(probabilities), "computed_from": source, "labels": {}}
    for j, label in enumerate(labels):
        scores = probabilities[:, j]
        edges = [0.0]
        for edge in sorted({round(float(q), 6) for q in np.quantile(scores, QUANTILES)}) if len(scores) else []:
            if edge - edges[-1] >= MIN_BIN_WIDTH and edge < 1.0:
                edges.append(edge)
        edges.append(1.0)
        out["labels"][label] = {
            "bins": edges,
            "shares": [round(float(share), 6) for share in bin_shares(scores, edges)],
            "alert_rate": round(float((scores >= thresholds[:, j]).mean()) if len(scores) else 0.0, 6),
        }
    return out


def bin_shares(scores: np.ndarray, edges: list[float]) -> np.ndarray:
    """The share of `scores` in each bin of `edges` (the last bin closed at 1; all zeros for no scores)."""
    counts, _ = np.histogram(np.clip(np.asarray(scores, dtype=float), 0.0, 1.0), bins=edges)
    return counts / max(int(counts.sum()), 1)


def held_out_reference(version_dir: Path, data: Path | None = None) -> dict:
    """The reference of a stored version, from its held-out model's scores on the base data's held-out split
    (`data`, default the bundled corpus). Raises ValueError when the figures this gives differ from the
    manifest's held-out metrics (another corpus, or another model): the reference must describe the version."""
    from classifier.config import CORPUS_PATH
    from classifier.served_thresholds import threshold_matrix
    from training.data import load_dataset
    from training.holdout_model import load_holdout_scorer
    from training.metrics import compute_metrics
    from training.splits import holdout_mask

    manifest = read_manifest(version_dir)
    scorer = load_holdout_scorer(version_dir, manifest)
    if scorer is None:
        raise ValueError(f"{version_dir}: no held-out model stored (holdout_scorer.npz); retrain the version instead")
    labels = list(manifest["labels"])
    dataset = load_dataset(data or CORPUS_PATH, labels=labels, min_label_count=0)
    held = np.flatnonzero(holdout_mask(dataset.groups) & ~dataset.added)
    texts = dataset.texts
    probabilities = scorer.predict_proba([texts[i] for i in held])
    langs = dataset.langs[held]
    policy = manifest.get("threshold_policy") or {}  # unrounded, as training decided the held-out rows
    global_thresholds = np.array([(policy.get(lb) or {}).get("threshold", manifest["thresholds"][lb]) for lb in labels])
    thresholds = threshold_matrix(labels, global_thresholds, manifest.get("thresholds_by_language") or {}, {}, langs)
    expected = (manifest.get("metrics") or {}).get("holdout")
    found = compute_metrics(dataset.Y[held], probabilities, thresholds, labels)
    if expected is not None and found.get("macro") != expected.get("macro"):
        raise ValueError(
            f"{version_dir}: the held-out model on {data or CORPUS_PATH} gives macro figures {found.get('macro')}, "
            f"the manifest {expected.get('macro')}: not the data this version was judged on"
        )
    read = np.isin(langs, list(manifest.get("supported_languages") or ["en"]))
    return score_reference(
        probabilities[read], thresholds[read], labels, "held-out split, scored by the held-out model (recomputed)"
    )


def write_reference(version_dir: Path, data: Path | None = None) -> dict:
    """Compute the held-out reference of a stored version and add it to its manifest (atomically)."""
    version_dir = Path(version_dir)
    reference = held_out_reference(version_dir, data)
    manifest = read_manifest(version_dir)
    if not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{version_dir}: invalid manifest")
    write_json_atomic(version_dir / MANIFEST_FILE, {**manifest, REFERENCE_KEY: reference})
    return reference
