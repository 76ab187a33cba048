"""Every file of a version is listed in one place (`VERSION_FILES`), written by `VersionWriter` and checked by
`verify_version`: each file corrupted in turn (bytes appended, truncated, deleted) is refused.

Works on copies of the bundled model (no training), which holds every file a version may hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.artifacts import (
    HOLDOUT_SCORER_FILE,
    MANIFEST_FILE,
    MODEL_CARD_FILE,
    VERSION_FILES,
    ArtifactError,
    VersionWriter,
    seal_version,
    verify_version,
)
from classifier.config import BUNDLED_MODELS_DIR
from classifier.versions import version_inputs
from tests.bundled_copies import BUNDLED_VERSION, copy_version
from training.cli import main as training_main


def append(path: Path) -> None:
    """Append bytes to a file."""
    with open(path, "ab") as handle:
        handle.write(b"\x00appended")


def truncate(path: Path) -> None:
    """Cut a file to half its length."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def delete(path: Path) -> None:
    """Remove a file."""
    path.unlink()


@pytest.fixture
def version(tmp_path) -> Path:
    """A private copy of the bundled model."""
    return copy_version(tmp_path, "v1")


def test_the_bundled_model_lists_and_verifies_every_file_a_version_may_hold():
    manifest = verify_version(BUNDLED_MODELS_DIR / BUNDLED_VERSION, BUNDLED_MODELS_DIR)
    assert set(manifest["files"]) == set(VERSION_FILES)
    assert "holdout_model" not in manifest


@pytest.mark.parametrize("damage", [append, truncate, delete])
@pytest.mark.parametrize("name", list(VERSION_FILES))
def test_each_file_damaged_in_turn_is_refused(version, name, damage):
    verify_version(version, version.parent)
    damage(version / name)
    with pytest.raises(ArtifactError) as caught:
        verify_version(version, version.parent)
    message = str(caught.value)
    if damage is delete:
        assert message == f"{version / name}: missing"
    else:
        assert message.startswith(f"{version / name}: sha256 ") and "does not match the manifest" in message


def test_a_file_the_manifest_does_not_list_is_refused(version):
    (version / "report" / "extra.png").write_bytes(b"not listed")
    with pytest.raises(ArtifactError, match=r"report/extra.png: not listed in the manifest; refusing it"):
        verify_version(version, version.parent)


def test_a_manifest_listing_a_file_that_is_no_file_of_a_version_is_refused(version):
    manifest = json.loads((version / MANIFEST_FILE).read_text())
    manifest["files"]["notes.txt"] = "0" * 64
    (version / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"'files' lists 'notes.txt', which is not a file of a version"):
        verify_version(version, version.parent)


def test_version_inputs_name_every_file_a_version_may_hold(version):
    inputs = set(version_inputs(version))
    assert {version / name for name in VERSION_FILES} | {version / MANIFEST_FILE, version / "report"} <= inputs


def old_style(version: Path) -> dict:
    """Turn a copy into a version written before every file was listed: the held-out scorer's digest under
    ``holdout_model``, the model card and plots unlisted."""
    manifest = json.loads((version / MANIFEST_FILE).read_text())
    files = manifest["files"]
    manifest["holdout_model"] = {"file": HOLDOUT_SCORER_FILE, "sha256": files.pop(HOLDOUT_SCORER_FILE)}
    manifest["files"] = {name: files[name] for name in ("model.joblib", "scorer.npz")}
    (version / MANIFEST_FILE).write_text(json.dumps(manifest))
    return manifest


def test_a_version_written_before_every_file_was_listed_is_refused_until_sealed(version, capsys):
    old_style(version)
    with pytest.raises(ArtifactError, match=r"not listed in the manifest; .*`python -m training seal` lists them"):
        verify_version(version, version.parent)
    assert training_main(["seal", str(version)]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{version}: the manifest now lists MODEL_CARD.md, holdout_scorer.npz, report/by_language.png, "
        "report/confusion_matrices.png, report/pr_curves.png\n"
    )
    manifest = verify_version(version, version.parent)
    assert set(manifest["files"]) == set(VERSION_FILES) and "holdout_model" not in manifest
    assert seal_version(version) == []


def test_seal_refuses_a_held_out_scorer_changed_since_its_old_digest(version):
    old_style(version)
    append(version / HOLDOUT_SCORER_FILE)
    before = (version / MANIFEST_FILE).read_bytes()
    with pytest.raises(ArtifactError, match=r"holdout_scorer.npz: sha256 does not match the manifest's holdout_model"):
        seal_version(version)
    assert (version / MANIFEST_FILE).read_bytes() == before


def test_seal_refuses_a_version_whose_listed_files_fail(version, capsys):
    old_style(version)
    append(version / "scorer.npz")
    assert training_main(["seal", str(version)]) == 2
    assert "scorer.npz: sha256" in capsys.readouterr().err


def test_the_writer_refuses_a_file_that_is_no_file_of_a_version(tmp_path):
    with VersionWriter(tmp_path, "v1") as writer:
        with pytest.raises(ArtifactError, match=r"'notes.txt' is not a file of a version"):
            writer.path("notes.txt")
        (writer.dir / "notes.txt").write_text("smuggled")
        with pytest.raises(ArtifactError, match=r"v1: notes.txt are not files of a version"):
            writer.commit({"created": "now", "labels": ["a"], "thresholds": {"a": 0.5}})
    assert not (tmp_path / "v1").exists()


def test_the_writer_lists_every_file_it_wrote(tmp_path):
    from classifier.estimator import AlertClassifier

    texts = ["cable cut by saboteurs", "we stand with them", "a quiet day", "pipeline blast"] * 3
    Y = np.array([[1], [0], [0], [1]] * 3)
    model = AlertClassifier(min_df=1, char_features=50).fit(texts, Y, labels=["sabotage"])
    model.set_thresholds([0.5])
    with VersionWriter(tmp_path, "v1") as writer:
        writer.write_model(model)
        writer.write_holdout_scorer(model)
        writer.write_text(MODEL_CARD_FILE, "# card\n")
        path = writer.commit({"created": "now", "labels": ["sabotage"], "thresholds": {"sabotage": 0.5}})
    manifest = verify_version(path, tmp_path)
    assert set(manifest["files"]) == {"model.joblib", "scorer.npz", HOLDOUT_SCORER_FILE, MODEL_CARD_FILE}
