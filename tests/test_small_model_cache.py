"""The cache of the small test model (tests/small_model.py): keyed by everything it is built from."""

from __future__ import annotations

import os
import shutil

import pytest

from tests import small_model


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A stand-in source tree for the key, so a test can change a "source file"."""
    package = tmp_path / "src" / "package"
    package.mkdir(parents=True)
    (package / "module.py").write_text("x = 1\n", encoding="utf-8")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "module.pyc").write_bytes(b"compiled")
    monkeypatch.setattr(small_model, "SOURCES", (package,))
    return package


def built_folder(path):
    """The files `build` leaves (slice, models directory, done marker, log), with a stand-in model:
    `to_cache` copies without verifying, `from_cache` verifies."""
    (path / small_model.MODELS_DIR).mkdir(parents=True)
    (path / small_model.MODELS_DIR / "CURRENT").write_text("v1\n", encoding="utf-8")
    (path / small_model.SLICE_FILE).write_text("{}\n", encoding="utf-8")
    (path / small_model.DONE).touch()
    (path / small_model.LOG).write_text("training output\n", encoding="utf-8")
    return path


def test_the_key_changes_with_a_source_file_and_ignores_compiled_files(sources):
    key = small_model.cache_key()
    assert key == small_model.cache_key()
    (sources / "__pycache__" / "module.pyc").write_bytes(b"recompiled")
    assert small_model.cache_key() == key
    (sources / "module.py").write_text("x = 2\n", encoding="utf-8")
    assert small_model.cache_key() != key


def test_the_key_changes_with_the_slice_stride(sources, monkeypatch):
    key = small_model.cache_key()
    monkeypatch.setattr(small_model, "SLICE_STRIDE", small_model.SLICE_STRIDE + 1)
    assert small_model.cache_key() != key


def files_under(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_cached_folder_is_copied_whole_without_its_log(sources, small_model_folder, tmp_path):
    root = tmp_path / "cache"
    built = tmp_path / "built"
    shutil.copytree(small_model_folder, built)
    (built / small_model.LOG).write_text("training output\n", encoding="utf-8")
    small_model.to_cache(built, root)
    assert [p.name for p in root.iterdir()] == [small_model.cache_key()]
    target = tmp_path / "target"
    target.mkdir()
    assert small_model.from_cache(target, root) is True
    assert files_under(target) == [name for name in files_under(built) if name != small_model.LOG]
    (sources / "module.py").write_text("changed\n", encoding="utf-8")
    assert small_model.from_cache(tmp_path / "other", root) is False


def test_a_damaged_cached_model_is_dropped_and_built_afresh(sources, small_model_folder, tmp_path):
    root = tmp_path / "cache"
    small_model.to_cache(small_model_folder, root)
    (scorer,) = (root / small_model.cache_key()).rglob("scorer.npz")
    scorer.write_bytes(scorer.read_bytes()[:-1] + b"x")  # its sha256 no longer matches the manifest
    target = tmp_path / "target"
    target.mkdir()
    assert small_model.from_cache(target, root) is False
    assert list(root.iterdir()) == [] and list(target.iterdir()) == []


def test_only_the_most_recently_used_models_are_kept(sources, tmp_path):
    root = tmp_path / "cache"
    keys = []
    for i in range(small_model.CACHE_KEEP + 2):
        (sources / "module.py").write_text(f"x = {i}\n", encoding="utf-8")
        small_model.to_cache(built_folder(tmp_path / f"built-{i}"), root)
        keys.append(small_model.cache_key())
        os.utime(root / keys[-1], (i, i))  # in order of use, whatever the file system's clock resolution
    assert sorted(p.name for p in root.iterdir()) == sorted(keys[-small_model.CACHE_KEEP :])


def test_staging_folders_of_an_interrupted_run_are_removed_once_old(sources, tmp_path):
    root = tmp_path / "cache"
    old, recent = root / ".staging-old", root / ".staging-recent"
    for staging in (old, recent):
        staging.mkdir(parents=True)
    os.utime(old, (0, 0))
    small_model.to_cache(built_folder(tmp_path / "built"), root)
    assert sorted(p.name for p in root.iterdir()) == [".staging-recent", small_model.cache_key()]


@pytest.mark.parametrize("value", ["off", "0", "", "false"])
def test_the_cache_can_be_turned_off(value, monkeypatch, tmp_path):
    monkeypatch.setenv(small_model.CACHE_ENV, value)
    assert small_model.cache_root() is None
    assert small_model.from_cache(tmp_path) is False


def test_the_cache_folder_can_be_chosen(monkeypatch, tmp_path):
    monkeypatch.setenv(small_model.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert small_model.cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv(small_model.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert small_model.cache_root() == tmp_path / "xdg" / "hybrid-threat-alerts" / "test-models"


@pytest.mark.slow
def test_the_key_does_not_depend_on_the_working_directory(tmp_path):
    import subprocess
    import sys

    from classifier.config import PROJECT_ROOT

    command = [sys.executable, "-c", "from tests import small_model; print(small_model.cache_key())"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    keys = {subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
            for cwd in (PROJECT_ROOT, tmp_path)}  # fmt: skip
    assert len(keys) == 1 and keys != {""}
