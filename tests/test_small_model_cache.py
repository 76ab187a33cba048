"""The cache of the small test model (tests/small_model.py): keyed by everything it is built from."""

from __future__ import annotations

import os

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
    """A folder as `build` leaves it: the slice, a models directory, the done marker and the log."""
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


def test_a_cached_folder_is_copied_whole_without_its_log(sources, tmp_path):
    root = tmp_path / "cache"
    small_model.to_cache(built_folder(tmp_path / "built"), root)
    assert [p.name for p in root.iterdir()] == [small_model.cache_key()]
    target = tmp_path / "target"
    target.mkdir()
    assert small_model.from_cache(target, root) is True
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        small_model.DONE, "models", "models/CURRENT", small_model.SLICE_FILE,
    ]  # fmt: skip
    (sources / "module.py").write_text("changed\n", encoding="utf-8")
    assert small_model.from_cache(tmp_path / "other", root) is False


def test_only_the_most_recently_used_models_are_kept(sources, tmp_path):
    root = tmp_path / "cache"
    keys = []
    for i in range(small_model.CACHE_KEEP + 2):
        (sources / "module.py").write_text(f"x = {i}\n", encoding="utf-8")
        small_model.to_cache(built_folder(tmp_path / f"built-{i}"), root)
        keys.append(small_model.cache_key())
        os.utime(root / keys[-1], (i, i))  # in order of use, whatever the file system's clock resolution
    assert sorted(p.name for p in root.iterdir()) == sorted(keys[-small_model.CACHE_KEEP :])


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


def test_the_key_does_not_depend_on_the_working_directory(tmp_path):
    import subprocess
    import sys

    from classifier.config import PROJECT_ROOT

    command = [sys.executable, "-c", "from tests import small_model; print(small_model.cache_key())"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    keys = {subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
            for cwd in (PROJECT_ROOT, tmp_path)}  # fmt: skip
    assert len(keys) == 1 and keys != {""}
