"""The store of versions: verification before a version is made current or served, CURRENT and its history,
the bundled read-only default, and the one decision every worker makes (`choose_version`).

Works on copies of the bundled model (no training), so it is fast."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from classifier.artifacts import MANIFEST_FILE, MODEL_FILE, SCORER_FILE, ArtifactError, verify_version
from classifier.versions import (
    CURRENT_FILE,
    HISTORY_FILE,
    NoGoodVersion,
    choose_version,
    current_version,
    list_versions,
    read_history,
    remove_stale_temporaries,
    resolve_version_dir,
    set_current,
)
from tests.bundled_copies import copy_version, corrupt


@pytest.fixture
def bundled(tmp_path) -> Path:
    """A private bundled directory holding one copy of the shipped model (made read-only like the real one)."""
    directory = tmp_path / "bundled"
    directory.mkdir()
    copy_version(directory, "v-bundled", "2020-01-01T00:00:00+00:00")
    return directory


@pytest.fixture
def models(tmp_path, monkeypatch, bundled) -> Path:
    """The user's models directory with two versions, v1 then v2, each made current once (v2 now)."""
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", str(bundled))
    monkeypatch.setenv("HTA_HOME", str(tmp_path / "home"))
    directory = tmp_path / "models"
    directory.mkdir()
    copy_version(directory, "v1", "2030-01-01T00:00:00+00:00")
    copy_version(directory, "v2", "2030-02-01T00:00:00+00:00")
    copy_version(directory, "v-rejected", "2030-03-01T00:00:00+00:00")  # a candidate the gate rejected
    set_current(directory, "v1", chosen_by="training")
    set_current(directory, "v2", chosen_by="gate")
    return directory


def test_history_records_who_chose_each_version(models):
    assert [(e["version"], e["by"]) for e in read_history(models)] == [("v1", "training"), ("v2", "gate")]
    assert (models / CURRENT_FILE).read_text() == "v2\n"
    assert list_versions(models) == ["v-bundled", "v1", "v2", "v-rejected"]
    with pytest.raises(ValueError, match="chosen_by must be one of"):
        set_current(models, "v1", chosen_by="someone")


def test_good_current_is_served(models):
    choice = choose_version(models)
    assert (choice.version, choice.current, choice.fallback, choice.reason) == ("v2", "v2", False, None)
    assert choice.path == models / "v2"


def test_corrupt_current_scorer_falls_back_to_the_previous_chosen_version(models):
    corrupt(models / "v2" / SCORER_FILE)
    choice = choose_version(models)
    assert (choice.version, choice.current, choice.fallback, choice.chosen_by) == ("v1", "v2", True, "training")
    assert choice.reason.startswith("the current version v2 does not verify: ")
    assert "scorer.npz: sha256" in choice.reason
    # the rejected candidate is newer but nobody chose it: never served
    assert choice.version != "v-rejected"
    with pytest.raises(NoGoodVersion) as info:
        choose_version(models, fallback=False)
    assert str(info.value).endswith("falling back to an earlier version is off (HTA_MODEL_FALLBACK=false)")


def test_corrupt_model_joblib_also_fails_verification(models):
    corrupt(models / "v2" / MODEL_FILE)
    with pytest.raises(ArtifactError, match=r"model\.joblib: sha256 .* does not match the manifest"):
        verify_version(models / "v2", models)
    assert choose_version(models).version == "v1"


def test_dangling_current_falls_back(models):
    (models / CURRENT_FILE).write_text("v9\n")
    choice = choose_version(models)
    assert (choice.version, choice.current, choice.fallback) == ("v2", "v9", True)
    assert choice.reason == f"the current version v9 does not verify: model version 'v9' not found in {models}"


def test_edited_manifest_version_is_refused(models):
    manifest = json.loads((models / "v2" / MANIFEST_FILE).read_text())
    manifest["version"] = "20991231T000000Z-ffffffff"
    (models / "v2" / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError) as info:
        verify_version(models / "v2", models)
    assert str(info.value) == (
        f"{models / 'v2' / MANIFEST_FILE}: names version '20991231T000000Z-ffffffff', but the directory is 'v2'; "
        "refusing it"
    )
    choice = choose_version(models)
    assert choice.version == "v1"
    with pytest.raises(ArtifactError, match="names version '20991231T000000Z-ffffffff'"):
        set_current(models, "v2")


def test_symlink_out_of_the_models_directory_is_refused(models, tmp_path):
    outside = copy_version(tmp_path, "v-outside")
    (models / "v-outside").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactError) as info:
        set_current(models, "v-outside")
    assert str(info.value) == (
        f"{models / 'v-outside'}: resolves to {outside}, outside the models directory {models}; refusing it"
    )
    assert (models / CURRENT_FILE).read_text() == "v2\n"
    # a file symlinked out of its version directory is refused too
    target = models / "v1" / SCORER_FILE
    shutil.move(target, tmp_path / "elsewhere.npz")
    target.symlink_to(tmp_path / "elsewhere.npz")
    with pytest.raises(ArtifactError, match="outside its version directory; refusing it"):
        verify_version(models / "v1", models)


def test_current_pointed_at_a_symlink_out_is_not_served(models, tmp_path):
    outside = copy_version(tmp_path, "v-outside")
    (models / "v-outside").symlink_to(outside, target_is_directory=True)
    (models / CURRENT_FILE).write_text("v-outside\n")
    choice = choose_version(models)
    assert (choice.version, choice.fallback) == ("v2", True)
    assert "outside the models directory" in choice.reason


def test_invalid_manifest_fields_are_refused(models):
    path = models / "v2" / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    for change, message in (
        ({"labels": []}, "'labels' must be a non-empty list of label names"),
        ({"thresholds": {"x": 0.5}}, "'thresholds' must give one threshold per label"),
        ({"created": 5}, "'created' must be a string"),
        ({"files": {SCORER_FILE: "abc"}}, f"'files.{SCORER_FILE}' must be a hex sha256 digest"),
    ):
        path.write_text(json.dumps({**manifest, **change}))
        with pytest.raises(ArtifactError) as info:
            verify_version(models / "v2", models)
        assert str(info.value) == f"{path}: invalid manifest: {message}"


def test_without_current_the_bundled_default_is_served_and_nothing_is_written(tmp_path, monkeypatch, bundled):
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", str(bundled))
    empty = tmp_path / "no-such-dir"
    assert current_version(empty) == "v-bundled"
    assert resolve_version_dir(empty) == bundled / "v-bundled"
    choice = choose_version(empty)
    assert (choice.version, choice.fallback, choice.chosen_by) == ("v-bundled", False, "bundled default")
    assert not empty.exists()


def test_bundled_version_can_be_activated_but_the_bundled_dir_is_never_written(models, bundled):
    before = sorted(p.name for p in bundled.rglob("*"))
    set_current(models, "v-bundled")
    assert choose_version(models).path == bundled / "v-bundled"
    with pytest.raises(ArtifactError) as info:
        set_current(bundled, "v-bundled")
    assert str(info.value).startswith(f"{bundled} holds the bundled default model and is read-only")
    assert sorted(p.name for p in bundled.rglob("*")) == before


def test_no_model_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    with pytest.raises(NoGoodVersion) as info:
        choose_version(tmp_path)
    assert str(info.value) == f"no model: {tmp_path} has no CURRENT and there is no bundled default model"


def test_nothing_good_at_all(models, bundled):
    for name in ("v1", "v2"):
        corrupt(models / name / SCORER_FILE)
    corrupt(bundled / "v-bundled" / SCORER_FILE)
    with pytest.raises(NoGoodVersion) as info:
        choose_version(models)
    assert str(info.value).startswith("the current version v2 does not verify: ")
    assert str(info.value).endswith("; and no earlier version chosen by an operator or the gate verifies")


def test_fallback_to_bundled_when_history_has_nothing_good(models):
    corrupt(models / "v1" / SCORER_FILE)
    corrupt(models / "v2" / SCORER_FILE)
    choice = choose_version(models)
    assert (choice.version, choice.chosen_by, choice.fallback) == ("v-bundled", "bundled default", True)


def test_history_file_with_a_torn_line_is_read(models):
    with open(models / HISTORY_FILE, "a") as handle:
        handle.write('{"version": "v1", "ti')
    assert [e["version"] for e in read_history(models)] == ["v1", "v2"]


def test_stale_temporaries_are_removed(models):
    old, fresh = models / ".tmp-v3-abc", models / ".tmp-v4-def"
    old.mkdir()
    (old / "model.joblib").write_bytes(b"x")
    fresh.mkdir()
    part = models / ".CURRENT.xyz.part"
    part.write_text("v1")
    past = time.time() - 7200
    for path in (old, part):
        os.utime(path, (past, past))
    assert sorted(p.name for p in remove_stale_temporaries(models)) == [".CURRENT.xyz.part", ".tmp-v3-abc"]
    assert fresh.exists() and not old.exists() and not part.exists()
