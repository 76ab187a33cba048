"""One model version's files: layout, manifest schema, integrity checks, loading and atomic writing.

A version is a directory `<models dir>/<version>/` holding

- ``model.joblib``: the fitted scikit-learn `AlertClassifier` (for evaluation and inspection);
- ``scorer.npz``: the same model as plain arrays (what prediction loads; no pickle);
- ``manifest.json``: version, creation time, labels, thresholds, metrics, training-data sha256 and
  row count, library versions, and the sha256 of every file above;
- ``MODEL_CARD.md`` and ``report/`` (evaluation plots), written by training.

A version directory appears atomically (written under a temporary name, then renamed). Loading checks
the manifest's sha256 of a file, and for the joblib file also the library versions, before reading it:
joblib runs code on load, so an unverified file is never unpickled. `verify_version` checks a whole
version (schema, name, location, every file's sha256) before a store makes it current or serves it.
Which version is current, and the fallback when it breaks, is `classifier.versions`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from classifier.io import atomic_output
from classifier.scorer import LinearScorer

ARTIFACT_FORMAT = 1
MODEL_FILE = "model.joblib"
SCORER_FILE = "scorer.npz"
MANIFEST_FILE = "manifest.json"
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Versions that must match exactly before a joblib file is unpickled.
PICKLE_LIBRARIES = ("sklearn", "numpy", "scipy", "joblib")


class ArtifactError(Exception):
    """A model version is missing, incomplete, tampered with, or built with other library versions."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model depends on, as recorded in manifests."""
    import importlib.metadata as md

    versions = {"python": sys.version.split()[0]}
    for module, dist in (("sklearn", "scikit-learn"), ("numpy", "numpy"), ("scipy", "scipy"),
                         ("joblib", "joblib"), ("nltk", "nltk")):  # fmt: skip
        try:
            versions[module] = md.version(dist)
        except md.PackageNotFoundError:
            versions[module] = "missing"
    return versions


def check_version_name(version: str) -> str:
    """Return `version` if it is a safe directory name, else raise `ArtifactError`."""
    if not isinstance(version, str) or not VERSION_RE.match(version) or version in {".", ".."}:
        raise ArtifactError(f"invalid model version name {version!r}")
    return version


def read_manifest(version_dir: Path) -> dict:
    """The parsed manifest of a version directory (no file checks)."""
    path = Path(version_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no manifest; not a model version directory") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: the manifest is not a JSON object")
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: artifact format {manifest.get('format')!r}, expected {ARTIFACT_FORMAT}")
    problem = manifest_problem(manifest)
    if problem:
        raise ArtifactError(f"{path}: invalid manifest: {problem}")
    return manifest


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with a manifest's fields that loading and serving rely on, or None.

    Checked by hand rather than with a schema library: eight fields do not justify a runtime dependency
    and its import time in every CLI start.
    """
    version = manifest.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        return f"'version' must be a version name, got {version!r}"
    if not isinstance(manifest.get("created"), str):
        return "'created' must be a string"
    labels = manifest.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        return "'labels' must be a non-empty list of label names"
    if len(set(labels)) != len(labels):
        return "'labels' has duplicates"
    thresholds = manifest.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(labels):
        return "'thresholds' must give one threshold per label"
    for label, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value <= 1):
            return f"'thresholds.{label}' must be a number from 0 to 1, got {value!r}"
        if math.isnan(value):
            return f"'thresholds.{label}' is NaN"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "'files' must map file names to sha256 digests"
    for name, digest in files.items():
        if not isinstance(digest, str) or not SHA256_RE.match(digest):
            return f"'files.{name}' must be a hex sha256 digest"
    if "versions" in manifest and not isinstance(manifest["versions"], dict):
        return "'versions' must be an object"
    return None


def verify_version(version_dir: Path, root: Path | None = None) -> dict:
    """Check a whole version before it is made current or served; returns its manifest.

    Checks: when `root` is given, the directory is inside it (by real path: a symlink out of the
    models directory is refused); the manifest parses and has the required fields; its `version` equals
    the directory's name; the model and scorer files are listed, are inside the version directory (by
    real path) and match their sha256. Raises `ArtifactError` naming the first problem.
    """
    version_dir = Path(version_dir)
    check_version_name(version_dir.name)
    if not version_dir.exists():
        raise ArtifactError(f"{version_dir}: model version directory not found")
    real = version_dir.resolve()
    if root is not None:
        real_root = Path(root).resolve()
        if real.parent != real_root:
            raise ArtifactError(
                f"{version_dir}: resolves to {real}, outside the models directory {real_root}; refusing it"
            )
    if not real.is_dir():
        raise ArtifactError(f"{version_dir}: not a directory")
    manifest = read_manifest(version_dir)
    if manifest["version"] != version_dir.name:
        raise ArtifactError(
            f"{version_dir / MANIFEST_FILE}: names version {manifest['version']!r}, "
            f"but the directory is {version_dir.name!r}; refusing it"
        )
    for name in (MODEL_FILE, SCORER_FILE):
        path = version_dir / name
        if path.exists() and path.resolve().parent != real:
            raise ArtifactError(f"{path}: resolves to {path.resolve()}, outside its version directory; refusing it")
        verify_file(version_dir, name, manifest)
    return manifest


def verify_file(version_dir: Path, name: str, manifest: dict | None = None) -> Path:
    """Check one file of a version against the manifest's sha256; return its path."""
    version_dir = Path(version_dir)
    manifest = manifest if manifest is not None else read_manifest(version_dir)
    expected = manifest.get("files", {}).get(name)
    path = version_dir / name
    if not expected:
        raise ArtifactError(f"{version_dir}: manifest lists no sha256 for {name}")
    if not path.is_file():
        raise ArtifactError(f"{path}: missing")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactError(
            f"{path}: sha256 {actual[:12]}… does not match the manifest ({expected[:12]}…); refusing to load"
        )
    return path


# Scorers built in this process, by the sha256 of the verified `scorer.npz` they were built from: loading
# the same bytes again (a rollback, a worker reloading, another app in the same process) reuses the built
# lookup indexes instead of rebuilding them. Keyed by content, never by path, and only after the file on
# disk has been verified against that digest. A few entries bound the memory.
_LOADED_SCORERS: OrderedDict[str, LinearScorer] = OrderedDict()
LOADED_SCORERS_LIMIT = 4
_LOADED_LOCK = threading.Lock()


def load_scorer(version_dir: Path) -> tuple[LinearScorer, dict]:
    """Verify and load a version's pickle-free scorer; returns (scorer, manifest).

    The file is always verified; a scorer already built from the same verified bytes is reused (its
    arrays are read-only, so sharing it between predictors is safe).
    """
    manifest = read_manifest(version_dir)
    path = verify_file(version_dir, SCORER_FILE, manifest)
    digest = manifest["files"][SCORER_FILE]
    with _LOADED_LOCK:
        scorer = _LOADED_SCORERS.get(digest)
        if scorer is not None:
            _LOADED_SCORERS.move_to_end(digest)
    if scorer is None:
        with np.load(path, allow_pickle=False) as arrays:
            scorer = LinearScorer.from_arrays(arrays).freeze()
    if list(scorer.labels) != list(manifest.get("labels", [])):
        raise ArtifactError(f"{path}: labels {scorer.labels} differ from the manifest's")
    with _LOADED_LOCK:
        _LOADED_SCORERS[digest] = scorer
        while len(_LOADED_SCORERS) > LOADED_SCORERS_LIMIT:
            _LOADED_SCORERS.popitem(last=False)
    return scorer, manifest


def load_estimator(version_dir: Path):
    """Verify (sha256 and library versions) and unpickle a version's scikit-learn estimator."""
    manifest = read_manifest(version_dir)
    path = verify_file(version_dir, MODEL_FILE, manifest)
    built, here = manifest.get("versions", {}), library_versions()
    mismatched = [
        f"{lib} {built.get(lib)} (here {here[lib]})" for lib in PICKLE_LIBRARIES if built.get(lib) != here[lib]
    ]
    if mismatched:
        raise ArtifactError(f"{path}: built with {', '.join(mismatched)}; refusing to unpickle")
    import joblib

    return joblib.load(path), manifest


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to `path` through a temporary file and `os.replace`."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to `path` through a temporary file in the same directory and `os.replace`."""
    with atomic_output(str(path)) as handle:
        handle.write(text)


class VersionWriter:
    """Writes a new version into a hidden temporary directory, published by `commit()` with a rename.

    Use as a context manager: on an exception the temporary directory is removed, so a failed or
    killed training never leaves a half-written version under its final name.
    """

    def __init__(self, models_dir: Path, version: str):
        self.models_dir = Path(models_dir)
        self.version = check_version_name(version)
        self.final_dir = self.models_dir / version
        self.dir: Path | None = None

    def __enter__(self) -> VersionWriter:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.final_dir.exists():
            raise ArtifactError(f"{self.final_dir} already exists")
        self.dir = Path(tempfile.mkdtemp(dir=self.models_dir, prefix=f".tmp-{self.version}-"))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.dir is not None and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def write_model(self, estimator) -> None:
        """Store the estimator (joblib) and its scorer (npz)."""
        import joblib

        joblib.dump(estimator, self.dir / MODEL_FILE, compress=3)
        np.savez_compressed(self.dir / SCORER_FILE, **LinearScorer.from_estimator(estimator).to_arrays())

    def commit(self, manifest: dict) -> Path:
        """Hash the files, write the manifest, and rename the directory to its final name."""
        files = {MODEL_FILE: sha256_file(self.dir / MODEL_FILE), SCORER_FILE: sha256_file(self.dir / SCORER_FILE)}
        full = {"format": ARTIFACT_FORMAT, "version": self.version, **manifest, "files": files}
        problem = manifest_problem(full)
        if problem:
            raise ArtifactError(f"{self.version}: invalid manifest: {problem}")
        write_json_atomic(self.dir / MANIFEST_FILE, full)
        os.chmod(self.dir, 0o755)
        os.rename(self.dir, self.final_dir)
        self.dir = None
        return self.final_dir


# The store of versions (CURRENT, its history, the bundled fallback) is `classifier.versions`; these
# names stay importable from here for the code written before it moved there.
_MOVED = ("CURRENT_FILE", "current_version", "list_versions", "resolve_version_dir", "set_current")


def __getattr__(name: str):
    if name in _MOVED:
        from classifier import versions

        return getattr(versions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
