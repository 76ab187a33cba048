"""The small model the code tests use: trained on a fixed slice of the bundled corpus, once per change.

`build(folder)` writes ``folder/slice.jsonl`` (every `SLICE_STRIDE`-th corpus row) and trains a models
directory ``folder/models`` on it with 2-fold CV, then marks the folder done. With pytest-xdist the
controller process starts `python -m tests.small_model FOLDER` as soon as pytest is configured, so the
model trains while the workers start and collect, once for all of them; `wait_for(folder)` is how a worker
gets it. Without workers, the session fixture calls `build` itself.

A built folder is kept in a cache outside the checkout (`cache_root`), under a key that changes with
anything that could change the model: the corpus, the code of `classifier` and `training`, this module,
the Python version and every installed distribution's version. A test run whose key is cached copies the
folder instead of training (`from_cache`): the edit-and-test loop does not retrain a model nothing changed.
Tests only ever see the copy.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import classifier
import training
from classifier.config import CORPUS_PATH

SLICE_STRIDE = 8
SMALL_MIN_LANGUAGE_ROWS = 50
SLICE_FILE = "slice.jsonl"
MODELS_DIR = "models"
DONE = ".done"
FAILED = ".failed"
LOG = "training.log"
WAIT_SECONDS = 600

# A folder for the cache, or one of OFF to train every run. Default: $XDG_CACHE_HOME (~/.cache)/hybrid-threat-alerts.
CACHE_ENV = "HTA_TEST_MODEL_CACHE"
OFF = {"", "0", "off", "false", "no"}
CACHE_KEEP = 3  # cached models kept (the most recently used)
STAGING_MAX_AGE = 3600
SOURCES = (Path(classifier.__file__).parent, Path(training.__file__).parent, Path(__file__))


def cache_root() -> Path | None:
    """Where built small models are cached, or None when `HTA_TEST_MODEL_CACHE` turns the cache off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in OFF else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hybrid-threat-alerts" / "test-models"


@functools.cache
def _installed() -> bytes:
    """The Python version and every installed distribution's name and version (fixed for a process)."""
    # a set: the project's own metadata is found twice when the checkout is also on sys.path
    names = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()})
    return "\n".join([f"python {sys.version}", *names]).encode()


def cache_key() -> str:
    """A sha256 of everything the small model is built from: corpus, code, Python and installed versions."""
    digest = hashlib.sha256(f"stride {SLICE_STRIDE}\n".encode() + _installed())
    for source in (CORPUS_PATH, *SOURCES):
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" not in path.parts:
                digest.update(f"file {path.relative_to(source.parent)}\n".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def from_cache(folder: Path, root: Path | None = None) -> bool:
    """Copy the cached small model for the current key into `folder` (marked done); False when none is cached."""
    root = cache_root() if root is None else root
    if root is None:
        return False
    cached = root / cache_key()
    if not (cached / DONE).is_file():
        return False
    shutil.copytree(cached, folder, dirs_exist_ok=True)
    if not _complete(folder):  # damaged since it was cached: build afresh, in an empty folder
        shutil.rmtree(cached, ignore_errors=True)
        shutil.rmtree(folder)
        folder.mkdir()
        return False
    os.utime(cached)  # most recently used: kept by `_prune`
    return True


def _complete(folder: Path) -> bool:
    """The folder holds the slice and a current model version that verifies (manifest and checksums)."""
    from classifier.artifacts import ArtifactError
    from classifier.versions import resolve_version_dir

    try:
        resolve_version_dir(folder / MODELS_DIR, bundled=None)
    except ArtifactError:
        return False
    return (folder / SLICE_FILE).is_file()


def to_cache(folder: Path, root: Path | None = None) -> None:
    """Keep a copy of the built `folder` under the current key (atomic rename; an existing copy is kept)."""
    root = cache_root() if root is None else root
    if root is None:
        return
    root.mkdir(parents=True, exist_ok=True)
    target = root / cache_key()
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        shutil.copytree(folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(LOG))
        with contextlib.suppress(OSError):  # another test run cached the same key first
            staging.rename(target)
            os.utime(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(root)


def _prune(root: Path) -> None:
    """Remove all but the `CACHE_KEEP` most recently used cached models, and staging folders an interrupted
    run left behind (older than `STAGING_MAX_AGE` seconds)."""
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
    for stale in entries[CACHE_KEEP:]:
        shutil.rmtree(stale, ignore_errors=True)
    for staging in root.glob(".staging-*"):
        if time.time() - staging.stat().st_mtime > STAGING_MAX_AGE:
            shutil.rmtree(staging, ignore_errors=True)


def build(folder: Path) -> Path:
    """Write the corpus slice and train the small model into `folder`, then cache it; returns `folder`."""
    from training.train import train_model

    folder.mkdir(parents=True, exist_ok=True)
    lines = CORPUS_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / SLICE_FILE).write_text("".join(lines[::SLICE_STRIDE]), encoding="utf-8")
    # An eighth of the corpus holds 70-100 German and Ukrainian rows: a lower bar supports them, as the
    # shipped model supports them (Russian, 2 rows, stays unsupported).
    train_model(folder / SLICE_FILE, models_dir=folder / MODELS_DIR, cv=2, progress=None, n_jobs=1, plots=False,
                min_language_rows=SMALL_MIN_LANGUAGE_ROWS)  # fmt: skip
    (folder / DONE).touch()
    to_cache(folder)
    return folder


def obtain(folder: Path) -> Path:
    """The small model in `folder`: copied from the cache when it holds one for the current key, else built."""
    return folder if from_cache(folder) else build(folder)


def wait_for(folder: Path, timeout: float = WAIT_SECONDS) -> Path:
    """Wait until the process training into `folder` is done; raises `RuntimeError` with its log if it failed."""
    deadline = time.monotonic() + timeout
    while not (folder / DONE).exists():
        if (folder / FAILED).exists() or time.monotonic() > deadline:
            log = (folder / LOG).read_text(encoding="utf-8", errors="replace") if (folder / LOG).exists() else ""
            what = "failed" if (folder / FAILED).exists() else f"did not finish in {timeout:.0f} s"
            raise RuntimeError(f"training the small test model in {folder} {what}:\n{log}")
        time.sleep(0.05)
    return folder


def main(argv: list[str]) -> int:
    """`python -m tests.small_model FOLDER`: build, leaving FAILED (and the traceback on stderr) on failure."""
    folder = Path(argv[0])
    try:
        build(folder)
    except BaseException:
        (folder / FAILED).touch()
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def unseen_corpus_texts(n: int) -> list[str]:
    """The first `n` English corpus rows the small test model was not trained on (it learns every
    `SLICE_STRIDE`-th row; these are the rows three after each)."""
    import itertools
    import json

    from classifier.config import CORPUS_PATH

    lines = CORPUS_PATH.read_text(encoding="utf-8").splitlines()
    rows = (json.loads(line) for i, line in enumerate(lines) if i % SLICE_STRIDE == 3)
    return list(itertools.islice((row["text"] for row in rows if row.get("lang", "en") == "en"), n))
