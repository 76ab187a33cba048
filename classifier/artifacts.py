"""Versioned model artifacts: layout, integrity checks, and the atomic "current" pointer.

A version is a directory `models/<version>/` holding

- ``model.joblib``: the fitted scikit-learn `AlertClassifier` (for evaluation and inspection);
- ``scorer.npz``: the same model as plain arrays (what prediction loads; no pickle);
- ``manifest.json``: version, creation time, labels, thresholds, metrics, training-data sha256 and
  row count, library versions, and the sha256 of every file above;
- ``MODEL_CARD.md`` and ``report/`` (evaluation plots), written by training.

`models/CURRENT` names the version in force; it is replaced atomically (`os.replace`), and a version
directory appears atomically too (written under a temporary name, then renamed). Loading checks the
manifest's sha256 of a file, and for the joblib file also the library versions, before reading it:
joblib runs code on load, so an unverified file is never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from classifier.io import atomic_output
from classifier.scorer import LinearScorer

ARTIFACT_FORMAT = 1
MODEL_FILE = "model.joblib"
SCORER_FILE = "scorer.npz"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
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
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: artifact format {manifest.get('format')!r}, expected {ARTIFACT_FORMAT}")
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


def load_scorer(version_dir: Path) -> tuple[LinearScorer, dict]:
    """Verify and load a version's pickle-free scorer; returns (scorer, manifest)."""
    manifest = read_manifest(version_dir)
    path = verify_file(version_dir, SCORER_FILE, manifest)
    with np.load(path, allow_pickle=False) as arrays:
        scorer = LinearScorer.from_arrays(arrays)
    if list(scorer.labels) != list(manifest.get("labels", [])):
        raise ArtifactError(f"{path}: labels {scorer.labels} differ from the manifest's")
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
        write_json_atomic(self.dir / MANIFEST_FILE, full)
        os.chmod(self.dir, 0o755)
        os.rename(self.dir, self.final_dir)
        self.dir = None
        return self.final_dir


def list_versions(models_dir: Path) -> list[str]:
    """Names of the complete version directories (with a manifest), oldest first by creation time."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    found = []
    for child in models_dir.iterdir():
        if child.name.startswith(".") or not (child / MANIFEST_FILE).is_file():
            continue
        try:
            created = read_manifest(child).get("created", "")
        except ArtifactError:
            continue
        found.append((created, child.name))
    return [name for _, name in sorted(found)]


def current_version(models_dir: Path) -> str | None:
    """The version `models/CURRENT` names, or None when there is none."""
    try:
        name = (Path(models_dir) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return check_version_name(name) if name else None


def set_current(models_dir: Path, version: str) -> None:
    """Make `version` current, atomically, after checking that it loads."""
    version_dir = Path(models_dir) / check_version_name(version)
    load_scorer(version_dir)
    write_text_atomic(Path(models_dir) / CURRENT_FILE, version + "\n")


def resolve_version_dir(models_dir: Path, version: str | None = None) -> Path:
    """Directory of `version`, or of the current version when None; `ArtifactError` if there is none."""
    models_dir = Path(models_dir)
    if version is None:
        version = current_version(models_dir)
        if version is None:
            raise ArtifactError(f"no current model in {models_dir}: train one with `python -m training train`")
    path = models_dir / check_version_name(version)
    if not path.is_dir():
        raise ArtifactError(f"model version {version!r} not found in {models_dir}")
    return path
