"""The score reference of a version (`training.reference`): written by training from its held-out predictions,
recomputed for a stored version from its held-out model without retraining, and the same both ways."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from classifier.artifacts import HOLDOUT_SCORER_FILE, MANIFEST_FILE
from classifier.config import BUNDLED_MODELS_DIR, CORPUS_PATH
from tests.bundled_copies import BUNDLED_VERSION
from tests.cli_runner import run_cli
from training.reference import REFERENCE_KEY, bin_shares, held_out_reference, score_reference


def _without_origin(reference: dict) -> dict:
    return {key: value for key, value in reference.items() if key != "computed_from"}


def test_score_reference_bins_are_deciles_and_alert_rate_uses_each_rows_threshold():
    scores = np.linspace(0.0, 0.99, 100).reshape(-1, 1)
    thresholds = np.full((100, 1), 0.5)
    thresholds[:10] = 0.0  # ten rows whose own (language) threshold fires on anything
    reference = score_reference(scores, thresholds, ["a"], "test")
    entry = reference["labels"]["a"]
    assert reference["rows"] == 100
    assert entry["bins"] == [0.0, 0.099, 0.198, 0.297, 0.396, 0.495, 0.594, 0.693, 0.792, 0.891, 1.0]
    assert entry["shares"] == [0.1] * 10
    assert entry["alert_rate"] == 0.6  # 50 at or above 0.5, plus the ten low rows decided at 0


def test_deciles_closer_than_the_minimum_width_are_merged():
    scores = np.concatenate([np.linspace(0.0, 0.004, 80), np.linspace(0.3, 0.9, 20)]).reshape(-1, 1)
    entry = score_reference(scores, np.full((100, 1), 0.5), ["a"], "test")["labels"]["a"]
    assert entry["bins"][0] == 0.0 and entry["bins"][1] > 0.004  # the deciles below 0.004 are one bin
    assert all(b - a >= 0.01 for a, b in itertools.pairwise(entry["bins"]))
    assert sum(entry["shares"]) == pytest.approx(1.0)


def test_a_label_that_never_scores_keeps_distinct_bins():
    reference = score_reference(np.zeros((50, 1)), np.full((50, 1), 0.5), ["a"], "test")
    assert reference["labels"]["a"] == {"bins": [0.0, 1.0], "shares": [1.0], "alert_rate": 0.0}
    assert bin_shares(np.array([]), [0.0, 1.0]).tolist() == [0.0]


@pytest.mark.slow
def test_training_writes_the_reference_recomputing_from_the_held_out_model_gives(trained_version_dir, corpus_slice):
    written = json.loads((trained_version_dir / MANIFEST_FILE).read_text())[REFERENCE_KEY]
    assert written["computed_from"] == "held-out split, scored by the held-out model"
    assert set(written["labels"]) == set(json.loads((trained_version_dir / MANIFEST_FILE).read_text())["labels"])
    recomputed = held_out_reference(trained_version_dir, corpus_slice)
    assert _without_origin(recomputed) == _without_origin(written)


def test_reference_command_adds_it_to_a_copy_and_changes_nothing_else(trained_version_dir, corpus_slice, tmp_path):
    copy = tmp_path / trained_version_dir.name
    shutil.copytree(trained_version_dir, copy)
    before = json.loads((copy / MANIFEST_FILE).read_text())
    del before[REFERENCE_KEY]
    (copy / MANIFEST_FILE).write_text(json.dumps(before))
    done = run_cli(["-m", "training", "reference", str(copy), "--data", str(corpus_slice)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{copy}: score reference of ")
    after = json.loads((copy / MANIFEST_FILE).read_text())
    reference = after.pop(REFERENCE_KEY)
    assert after == before
    assert reference["computed_from"] == "held-out split, scored by the held-out model (recomputed)"


def test_reference_command_refuses_other_data_and_a_version_without_a_held_out_model(trained_version_dir, tmp_path):
    copy = tmp_path / trained_version_dir.name
    shutil.copytree(trained_version_dir, copy)
    other = tmp_path / "other.jsonl"  # not the data the version was judged on: its figures differ
    other.write_text("".join(CORPUS_PATH.read_text(encoding="utf-8").splitlines(keepends=True)[1:2000:3]))
    manifest_before = (copy / MANIFEST_FILE).read_bytes()
    done = run_cli(["-m", "training", "reference", str(copy), "--data", str(other)], tmp_path)
    assert done.returncode == 2
    assert "not the data this version was judged on" in done.stderr
    assert (copy / MANIFEST_FILE).read_bytes() == manifest_before

    manifest = json.loads(manifest_before)
    del manifest["files"][HOLDOUT_SCORER_FILE]
    (copy / HOLDOUT_SCORER_FILE).unlink()
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    done = run_cli(["-m", "training", "reference", str(copy), "--data", str(other)], tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {copy}: no held-out model stored (holdout_scorer.npz); retrain the version instead\n"
    )


@pytest.mark.slow
def test_the_bundled_models_reference_is_its_held_out_models_scores():
    """The bundled default model's reference was added by `training reference` (not retrained): recomputing it
    gives the same figures, and the held-out metrics it checks against are the manifest's."""
    version_dir = BUNDLED_MODELS_DIR / BUNDLED_VERSION
    written = json.loads((version_dir / MANIFEST_FILE).read_text())[REFERENCE_KEY]
    assert _without_origin(held_out_reference(version_dir)) == _without_origin(written)
