"""Artifacts: sha256 checks refuse tampered files, library-version checks refuse unpickling, CURRENT pointer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifier.artifacts import (
    HOLDOUT_SCORER_FILE,
    MANIFEST_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    SCORER_FILE,
    ArtifactError,
    VersionWriter,
    library_versions,
    load_estimator,
    load_scorer,
    present_files,
    sha256_file,
)
from classifier.predictor import Predictor
from classifier.versions import CURRENT_FILE, current_version, list_versions, resolve_version_dir, set_current


@pytest.fixture(autouse=True)
def _only_the_test_models(monkeypatch, tmp_path):
    """Versions come from the test's models directory only (no bundled default, no user home)."""
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    monkeypatch.setenv("HTA_HOME", str(tmp_path / "hta-home"))


def only_version(models: Path) -> Path:
    return resolve_version_dir(models)


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(version_dir: Path, **changes) -> dict:
    path = version_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def mismatch_message(path: Path, expected: str) -> str:
    actual = sha256_file(path)
    return f"{path}: sha256 {actual[:12]}… does not match the manifest ({expected[:12]}…); refusing to load"


def test_untouched_version_loads(trained_version_dir):
    scorer, manifest = load_scorer(trained_version_dir)
    estimator, manifest2 = load_estimator(trained_version_dir)
    assert manifest == manifest2
    assert list(scorer.labels) == manifest["labels"] == list(estimator.labels_)
    assert {MODEL_FILE, SCORER_FILE, HOLDOUT_SCORER_FILE, MODEL_CARD_FILE} <= set(manifest["files"])
    assert manifest["files"] == {name: sha256_file(trained_version_dir / name) for name in manifest["files"]}
    assert present_files(trained_version_dir) == sorted(manifest["files"])
    assert manifest["versions"] == library_versions()


def test_tampered_model_joblib_is_refused(models_copy):
    version_dir = only_version(models_copy)
    expected = json.loads((version_dir / MANIFEST_FILE).read_text())["files"][MODEL_FILE]
    flip_byte(version_dir / MODEL_FILE)
    with pytest.raises(ArtifactError) as info:
        load_estimator(version_dir)
    assert str(info.value) == mismatch_message(version_dir / MODEL_FILE, expected)
    # prediction never reads the pickle: the scorer still loads
    assert Predictor.load(version_dir).version == version_dir.name


def test_tampered_scorer_is_refused_by_load_scorer_and_predictor(models_copy):
    version_dir = only_version(models_copy)
    expected = json.loads((version_dir / MANIFEST_FILE).read_text())["files"][SCORER_FILE]
    flip_byte(version_dir / SCORER_FILE, offset=50)
    message = mismatch_message(version_dir / SCORER_FILE, expected)
    with pytest.raises(ArtifactError) as info:
        load_scorer(version_dir)
    assert str(info.value) == message
    with pytest.raises(ArtifactError) as info:
        Predictor.load(version_dir)
    assert str(info.value) == message
    with pytest.raises(ArtifactError) as info:
        Predictor.load(models_dir=models_copy)
    assert str(info.value) == message


def test_the_same_verified_bytes_share_one_built_scorer(models_copy, tmp_path):
    version_dir = only_version(models_copy)
    elsewhere = tmp_path / "elsewhere" / version_dir.name
    elsewhere.parent.mkdir()
    shutil.copytree(version_dir, elsewhere)
    first, _ = load_scorer(version_dir)
    second, _ = load_scorer(elsewhere)  # other path, same bytes: the indexes are not built again
    assert second is first
    assert not first.coef.flags.writeable and not first.thresholds.flags.writeable  # shared: read-only
    with pytest.raises(ValueError, match="read-only"):
        first.thresholds[0] = 0.9
    # a file changed after a load is still verified first, and refused
    flip_byte(elsewhere / SCORER_FILE, offset=50)
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        load_scorer(elsewhere)


def test_appended_bytes_are_refused(models_copy):
    version_dir = only_version(models_copy)
    with open(version_dir / SCORER_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        load_scorer(version_dir)


def test_missing_file_is_refused(models_copy):
    version_dir = only_version(models_copy)
    (version_dir / SCORER_FILE).unlink()
    with pytest.raises(ArtifactError) as info:
        load_scorer(version_dir)
    assert str(info.value) == f"{version_dir / SCORER_FILE}: missing"


def test_manifest_without_file_hash_is_refused(models_copy):
    version_dir = only_version(models_copy)
    edit_manifest(version_dir, files={SCORER_FILE: sha256_file(version_dir / SCORER_FILE)})
    with pytest.raises(ArtifactError) as info:
        load_estimator(version_dir)
    expected = f"{version_dir / MANIFEST_FILE}: invalid manifest: 'files' lists no sha256 for {MODEL_FILE}"
    assert str(info.value) == expected


def test_other_sklearn_version_refuses_to_unpickle(models_copy):
    version_dir = only_version(models_copy)
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text())
    here = manifest["versions"]["sklearn"]
    edit_manifest(version_dir, versions={**manifest["versions"], "sklearn": "0.0.1"})
    with pytest.raises(ArtifactError) as info:
        load_estimator(version_dir)
    assert (
        str(info.value) == f"{version_dir / MODEL_FILE}: built with sklearn 0.0.1 (here {here}); refusing to unpickle"
    )
    # the pickle-free scorer does not depend on scikit-learn's version
    assert load_scorer(version_dir)[1]["versions"]["sklearn"] == "0.0.1"


def test_several_library_mismatches_are_all_named(models_copy):
    version_dir = only_version(models_copy)
    versions = library_versions()
    edit_manifest(version_dir, versions={**versions, "numpy": "1.0", "joblib": None})
    with pytest.raises(ArtifactError) as info:
        load_estimator(version_dir)
    assert str(info.value) == (
        f"{version_dir / MODEL_FILE}: built with numpy 1.0 (here {versions['numpy']}), "
        f"joblib None (here {versions['joblib']}); refusing to unpickle"
    )


def test_missing_manifest(models_copy):
    version_dir = only_version(models_copy)
    (version_dir / MANIFEST_FILE).unlink()
    for load in (load_scorer, load_estimator, Predictor.load):
        with pytest.raises(ArtifactError) as info:
            load(version_dir)
        assert str(info.value) == f"{version_dir / MANIFEST_FILE}: no manifest; not a model version directory"
    assert list_versions(models_copy) == []


def test_unreadable_manifest_and_wrong_format(models_copy):
    version_dir = only_version(models_copy)
    edit_manifest(version_dir, format=2)
    with pytest.raises(ArtifactError) as info:
        load_scorer(version_dir)
    assert str(info.value) == f"{version_dir / MANIFEST_FILE}: artifact format 2, expected 1"
    (version_dir / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"manifest\.json: unreadable manifest: Expecting property name"):
        load_scorer(version_dir)


def test_manifest_labels_must_match_the_scorer(models_copy):
    version_dir = only_version(models_copy)
    edit_manifest(version_dir, labels=["a", "b", "c"], thresholds={"a": 0.5, "b": 0.5, "c": 0.5},
                  thresholds_by_language={})  # fmt: skip
    with pytest.raises(ArtifactError) as info:
        load_scorer(version_dir)
    assert str(info.value) == (
        f"{version_dir / SCORER_FILE}: labels ('hybrid_threat_warning', 'sabotage_mention', 'support_statement') "
        "differ from the manifest's"
    )


def copy_version(models: Path, name: str, created: str) -> Path:
    source = only_version(models)
    target = models / name
    shutil.copytree(source, target)
    edit_manifest(target, version=name, created=created)
    return target


def test_current_pointer_and_list_versions(models_copy):
    original = current_version(models_copy)
    assert original == only_version(models_copy).name
    assert (models_copy / CURRENT_FILE).read_text(encoding="utf-8") == original + "\n"
    copy_version(models_copy, "v-later", "2999-01-01T00:00:00+00:00")
    copy_version(models_copy, "v-earlier", "2000-01-01T00:00:00+00:00")
    (models_copy / ".tmp-v3-abc").mkdir()  # an unfinished write
    (models_copy / "not-a-version").mkdir()
    assert list_versions(models_copy) == ["v-earlier", original, "v-later"]

    set_current(models_copy, "v-later")
    assert (models_copy / CURRENT_FILE).read_text(encoding="utf-8") == "v-later\n"
    assert current_version(models_copy) == "v-later"
    assert resolve_version_dir(models_copy) == models_copy / "v-later"
    assert Predictor.load(models_dir=models_copy).version == "v-later"
    # the atomic replace leaves no temporary file behind
    assert sorted(p.name for p in models_copy.iterdir()) == sorted(
        [".tmp-v3-abc", CURRENT_FILE, "HISTORY", "not-a-version", original, "v-earlier", "v-later"]
    )


@pytest.mark.parametrize("name", ["../x", "..", ".", "", "a/b", ".hidden", "x" * 101, "sp ace"])
def test_invalid_version_names_are_refused(models_copy, name):
    before = (models_copy / CURRENT_FILE).read_text(encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        set_current(models_copy, name)
    assert str(info.value) == f"invalid model version name {name!r}"
    assert (models_copy / CURRENT_FILE).read_text(encoding="utf-8") == before
    with pytest.raises(ArtifactError):
        VersionWriter(models_copy, name)


def test_set_current_refuses_a_version_that_does_not_load(models_copy):
    before = (models_copy / CURRENT_FILE).read_text(encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        set_current(models_copy, "missing-version")
    assert str(info.value) == f"model version 'missing-version' not found in {models_copy}"
    broken = copy_version(models_copy, "broken", "2999-01-01T00:00:00+00:00")
    flip_byte(broken / SCORER_FILE)
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        set_current(models_copy, "broken")
    assert (models_copy / CURRENT_FILE).read_text(encoding="utf-8") == before


def test_tampered_current_pointer(models_copy):
    (models_copy / CURRENT_FILE).write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        current_version(models_copy)
    assert str(info.value) == "invalid model version name '../../etc'"
    (models_copy / CURRENT_FILE).write_text("  \n", encoding="utf-8")
    assert current_version(models_copy) is None


def test_no_current_model(tmp_path):
    assert current_version(tmp_path) is None
    assert list_versions(tmp_path / "nowhere") == []
    with pytest.raises(ArtifactError) as info:
        resolve_version_dir(tmp_path)
    assert str(info.value) == f"no current model in {tmp_path}: train one with `python -m training train`"
    with pytest.raises(ArtifactError) as info:
        resolve_version_dir(tmp_path, "v1")
    assert str(info.value) == f"model version 'v1' not found in {tmp_path}"
    with pytest.raises(ArtifactError, match="no current model"):
        Predictor.load(models_dir=tmp_path)


def test_version_writer_leaves_nothing_on_error(tmp_path):
    models = tmp_path / "models"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), VersionWriter(models, "v1") as writer:
        assert writer.dir.name.startswith(".tmp-v1-")
        (writer.dir / "partial.bin").write_bytes(b"x" * 10)
        raise Boom
    assert list(models.iterdir()) == []
    assert list_versions(models) == []


def test_version_writer_refuses_to_publish_an_invalid_manifest(trained_version_dir, tmp_path):
    estimator, manifest = load_estimator(trained_version_dir)
    models = tmp_path / "models"
    with pytest.raises(ArtifactError) as info, VersionWriter(models, "v1") as writer:
        writer.write_model(estimator)
        writer.commit({"created": "2020-01-01T00:00:00+00:00", "labels": manifest["labels"]})
    assert str(info.value) == "v1: invalid manifest: 'thresholds' must give one threshold per label"
    assert list(models.iterdir()) == []


def test_version_writer_commit_publishes_and_refuses_existing(trained_version_dir, tmp_path):
    estimator, manifest = load_estimator(trained_version_dir)
    models = tmp_path / "models"
    with VersionWriter(models, "v1") as writer:
        writer.write_model(estimator)
        final = writer.commit(
            {"created": "2020-01-01T00:00:00+00:00", "labels": manifest["labels"], "thresholds": manifest["thresholds"]}
        )
    assert final == models / "v1"
    assert sorted(p.name for p in models.iterdir()) == ["v1"]
    assert sorted(p.name for p in final.iterdir()) == [MANIFEST_FILE, MODEL_FILE, SCORER_FILE]
    written = json.loads((final / MANIFEST_FILE).read_text())
    assert written["format"] == 1 and written["version"] == "v1"
    assert written["files"] == {
        MODEL_FILE: sha256_file(final / MODEL_FILE),
        SCORER_FILE: sha256_file(final / SCORER_FILE),
    }
    assert load_scorer(final)[0].labels == tuple(manifest["labels"])
    assert list_versions(models) == ["v1"]
    assert current_version(models) is None
    with pytest.raises(ArtifactError) as info, VersionWriter(models, "v1"):
        pass
    assert str(info.value) == f"{models / 'v1'} already exists"
