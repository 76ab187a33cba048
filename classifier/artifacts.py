"""One model version's files: layout, manifest schema, integrity checks, loading and atomic writing.

A version is a directory `<models dir>/<version>/` holding

- ``model.joblib``: the fitted scikit-learn `AlertClassifier` (for evaluation and inspection);
- ``scorer.npz``: the same model as plain arrays (what prediction loads; no pickle);
- ``holdout_scorer.npz``: the model fit without the held-out rows, for the retrain gate (optional);
- ``MODEL_CARD.md`` and ``report/`` (evaluation plots), written by training (optional);
- ``manifest.json``: version, creation time, labels, thresholds, metrics, training-data sha256 and
  row count, library versions, and under ``files`` the sha256 of every other file of the version.

`VERSION_FILES` is the one list of those files; `VersionWriter` is the one writer (every file goes
through it, and `commit` hashes every file it finds). A version directory appears atomically (written
under a temporary name, then renamed). Loading checks the manifest's sha256 of a file, and for the
joblib file also the library versions, before reading it: joblib runs code on load, so an unverified
file is never unpickled. `verify_version` checks a whole version (schema, name, location, the sha256 of
every file listed, and that no file of the directory is unlisted) before a store makes it current or
serves it. A version written before every file was listed (its held-out scorer's digest under
``holdout_model``, its model card unlisted) is refused naming the file; `seal_version` lists them.
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
HOLDOUT_SCORER_FILE = "holdout_scorer.npz"
MODEL_CARD_FILE = "MODEL_CARD.md"
REPORT_FILES = ("report/pr_curves.png", "report/confusion_matrices.png", "report/by_language.png")
# Every file a version may hold besides its manifest (paths relative to the version directory), and
# whether every version must hold it. The manifest's `files` lists exactly the ones a version holds.
VERSION_FILES: dict[str, bool] = {
    MODEL_FILE: True,
    SCORER_FILE: True,
    HOLDOUT_SCORER_FILE: False,
    MODEL_CARD_FILE: False,
    **{name: False for name in REPORT_FILES},
}
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
    for key in ("thresholds_by_language", "thresholds_by_source"):
        problem = _threshold_table_problem(key, manifest.get(key), labels)
        if problem:
            return problem
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "'files' must map file names to sha256 digests"
    for name, digest in files.items():
        if name not in VERSION_FILES:
            return f"'files' lists {name!r}, which is not a file of a version ({', '.join(VERSION_FILES)})"
        if not isinstance(digest, str) or not SHA256_RE.match(digest):
            return f"'files.{name}' must be a hex sha256 digest"
    missing = [name for name, required in VERSION_FILES.items() if required and name not in files]
    if missing:
        return f"'files' lists no sha256 for {', '.join(missing)}"
    if "versions" in manifest and not isinstance(manifest["versions"], dict):
        return "'versions' must be an object"
    return None


def _threshold_table_problem(key: str, table, labels: list[str]) -> str | None:
    """What is wrong with an optional ``{name: {label: threshold}}`` table of a manifest (per language, per
    source), or None: every name a non-empty string, every label one of the version's, every threshold a
    number from 0 to 1."""
    if table is None:
        return None
    if not isinstance(table, dict):
        return f"'{key}' must map names to thresholds per label"
    for name, own in table.items():
        if not isinstance(name, str) or not name:
            return f"'{key}' has an empty name"
        if not isinstance(own, dict):
            return f"'{key}.{name}' must map labels to thresholds"
        for label, value in own.items():
            if label not in labels:
                return f"'{key}.{name}' names {label!r}, which is not a label of the version"
            if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value <= 1):
                return f"'{key}.{name}.{label}' must be a number from 0 to 1, got {value!r}"
    return None


def verify_version(version_dir: Path, root: Path | None = None) -> dict:
    """Check a whole version before it is made current or served; returns its manifest.

    Checks: when `root` is given, the directory is inside it (by real path: a symlink out of the
    models directory is refused); the manifest parses and has the required fields; its `version` equals
    the directory's name; every file of `VERSION_FILES` the directory holds is listed in the manifest,
    and every listed file is there, inside the version directory (by real path), and matches its sha256.
    Raises `ArtifactError` naming the first problem.
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
    unlisted = unlisted_files(version_dir, manifest)
    if unlisted:
        raise ArtifactError(
            f"{version_dir / unlisted[0]}: not listed in the manifest; refusing it (a version written before "
            "every file was listed: `python -m training seal` lists them)"
        )
    for name in manifest["files"]:
        path = version_dir / name
        if path.exists() and not path.resolve().is_relative_to(real):
            raise ArtifactError(f"{path}: resolves to {path.resolve()}, outside its version directory; refusing it")
        verify_file(version_dir, name, manifest)
    return manifest


def present_files(version_dir: Path) -> list[str]:
    """Every file (relative path) of a version directory but its manifest, sorted."""
    version_dir = Path(version_dir)
    return sorted(
        path.relative_to(version_dir).as_posix()
        for path in version_dir.rglob("*")
        if (path.is_file() or path.is_symlink()) and path.name != MANIFEST_FILE
    )


def unlisted_files(version_dir: Path, manifest: dict) -> list[str]:
    """The files of a version directory its manifest does not list."""
    return [name for name in present_files(version_dir) if name not in manifest.get("files", {})]


def seal_version(version_dir: Path) -> list[str]:
    """List in the manifest the files of a version written before every file was listed; returns their names.

    For a version whose listed files verify: the held-out scorer is checked against the digest the old
    manifest kept under ``holdout_model`` (which goes), the other unlisted files of `VERSION_FILES` are
    hashed as they are (they were never verified: only documentation, the model card and plots). A file
    that is no file of a version, or a listed file that fails, raises `ArtifactError` and nothing is written.
    """
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    for name in manifest["files"]:
        verify_file(version_dir, name, manifest)
    added = unlisted_files(version_dir, manifest)
    files = dict(manifest["files"])
    for name in added:
        if name not in VERSION_FILES:
            raise ArtifactError(f"{version_dir / name}: not a file of a version ({', '.join(VERSION_FILES)})")
        files[name] = sha256_file(version_dir / name)
    old = manifest.pop("holdout_model", None)
    if old and files.get(HOLDOUT_SCORER_FILE) != old.get("sha256"):
        raise ArtifactError(f"{version_dir / HOLDOUT_SCORER_FILE}: sha256 does not match the manifest's holdout_model")
    if not added and old is None:
        return []
    write_json_atomic(version_dir / MANIFEST_FILE, {**manifest, "files": files})
    return added


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

    def path(self, name: str) -> Path:
        """Where to write the file `name` of `VERSION_FILES` (its folder made); any other name is refused."""
        if name not in VERSION_FILES:
            raise ArtifactError(f"{name!r} is not a file of a version ({', '.join(VERSION_FILES)})")
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_model(self, estimator) -> None:
        """Store the estimator (joblib) and its scorer (npz)."""
        import joblib

        joblib.dump(estimator, self.path(MODEL_FILE), compress=3)
        np.savez_compressed(self.path(SCORER_FILE), **LinearScorer.from_estimator(estimator).to_arrays())

    def write_holdout_scorer(self, estimator) -> None:
        """Store a fitted estimator (thresholds set) as the version's held-out scorer (npz, no pickle)."""
        np.savez_compressed(self.path(HOLDOUT_SCORER_FILE), **LinearScorer.from_estimator(estimator).to_arrays())

    def write_text(self, name: str, text: str) -> None:
        """Store a text file of the version (the model card)."""
        self.path(name).write_text(text, encoding="utf-8")

    def commit(self, manifest: dict) -> Path:
        """Hash every file written, write the manifest, and rename the directory to its final name."""
        names = present_files(self.dir)
        unknown = [name for name in names if name not in VERSION_FILES]
        if unknown:
            raise ArtifactError(f"{self.version}: {', '.join(unknown)} are not files of a version")
        files = {name: sha256_file(self.dir / name) for name in names}
        full = {"format": ARTIFACT_FORMAT, "version": self.version, **manifest, "files": files}
        problem = manifest_problem(full)
        if problem:
            raise ArtifactError(f"{self.version}: invalid manifest: {problem}")
        write_json_atomic(self.dir / MANIFEST_FILE, full)
        os.chmod(self.dir, 0o755)
        os.rename(self.dir, self.final_dir)
        self.dir = None
        return self.final_dir
