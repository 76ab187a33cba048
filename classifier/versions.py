"""The store of model versions: which one is current, who chose it, and what to serve when it breaks.

Two directories hold versions:

- the **models directory** (`HTA_MODELS_DIR`, default ``$HTA_HOME/models``): versions a user trains or
  the service promotes, ``CURRENT`` (the name of the version in force, replaced atomically) and
  ``HISTORY`` (one JSON line per version made current: name, time, and who chose it — an operator, the
  retrain gate, or training);
- the **bundled** directory (`HTA_BUNDLED_MODELS_DIR`): the default model shipped with the project,
  read-only. With no ``CURRENT`` the newest bundled version is the current one, so a fresh checkout or
  install predicts without writing anything. A bundled version can be made current (a rollback to the
  default) by name, like any other.

A version is verified (`classifier.artifacts.verify_version`) before it is made current and before it
is served. `choose_version` decides what a server serves from what is on disk alone, so every process
computes the same answer: the current version if it verifies; else, when fallback is allowed, the
newest other version in ``HISTORY`` that verifies (one an operator or the gate chose), else the bundled
default; never a version nobody chose (a rejected retrain candidate, say).

Where the pointer lives is a `VersionPointer`'s business: `FilePointer` keeps it in ``CURRENT`` and ``HISTORY``
(one host); the service's PostgreSQL store keeps it in a row every instance reads (`service.pointer`), and
hands `choose_version` a `PointerState` instead of the two files.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from classifier.artifacts import (
    MANIFEST_FILE,
    VERSION_FILES,
    ArtifactError,
    check_version_name,
    read_manifest,
    verify_version,
    write_text_atomic,
)

CURRENT_FILE = "CURRENT"
HISTORY_FILE = "HISTORY"
HISTORY_KEEP = 200
# A `.tmp-*` version directory or `.*.part` file older than this is a leftover of a killed run: a
# training holds its temporary directory only while it writes the files, a few seconds.
STALE_SECONDS = 3600
CHOOSERS = ("operator", "gate", "training")


class _Configured:
    def __repr__(self) -> str:
        return "<the configured bundled directory>"


CONFIGURED = _Configured()


class NoGoodVersion(ArtifactError):
    """No version may be served: none at all, or the current one fails and no fallback verifies.

    `inputs` are the paths the decision read (a change to one of them may change it).
    """

    def __init__(self, message: str, inputs: list[Path] | None = None):
        super().__init__(message)
        self.inputs = inputs or []


def _bundled(bundled) -> Path | None:
    if bundled is CONFIGURED:
        from classifier.config import bundled_models_dir

        bundled = bundled_models_dir()
    return Path(bundled) if bundled else None


def _versions_in(directory: Path | None) -> list[tuple[str, str]]:
    """(created, name) of the complete versions in one directory."""
    if directory is None or not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        if child.name.startswith(".") or not (child / MANIFEST_FILE).is_file():
            continue
        try:
            found.append((read_manifest(child)["created"], child.name))
        except ArtifactError:
            continue
    return found


def list_versions(models_dir: Path, bundled=CONFIGURED) -> list[str]:
    """Names of the complete versions (with a valid manifest) of both directories, oldest first."""
    found = dict((name, created) for created, name in _versions_in(_bundled(bundled)))
    found.update((name, created) for created, name in _versions_in(Path(models_dir)))
    return [name for name, _ in sorted(found.items(), key=lambda item: (item[1], item[0]))]


def bundled_default(bundled=CONFIGURED) -> str | None:
    """The bundled default version: the newest complete version of the bundled directory, or None."""
    found = sorted(_versions_in(_bundled(bundled)))
    return found[-1][1] if found else None


def find_version(models_dir: Path, version: str, bundled=CONFIGURED) -> tuple[Path, Path]:
    """(version directory, the directory holding it): the models directory first, then the bundled one."""
    check_version_name(version)
    roots = [Path(models_dir)] + [root for root in [_bundled(bundled)] if root is not None]
    for root in roots:
        if os.path.lexists(root / version):
            return root / version, root
    raise ArtifactError(f"model version {version!r} not found in {models_dir}")


def read_pointer(models_dir: Path) -> str | None:
    """The version `CURRENT` names, or None when there is no (or an empty) `CURRENT`."""
    try:
        name = (Path(models_dir) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{Path(models_dir) / CURRENT_FILE}: unreadable: {exc}") from exc
    return check_version_name(name) if name else None


def current_version(models_dir: Path, bundled=CONFIGURED) -> str | None:
    """The version in force: the one `CURRENT` names, else the bundled default; None when there is neither."""
    return read_pointer(models_dir) or bundled_default(bundled)


def resolve_version_dir(models_dir: Path, version: str | None = None, bundled=CONFIGURED) -> Path:
    """Directory of `version` (default: the current one), verified; `ArtifactError` if it fails or is missing.

    No fallback: a command asked for the current version gets it or a clear error.
    """
    if version is None:
        version = current_version(models_dir, bundled)
        if version is None:
            raise ArtifactError(f"no current model in {models_dir}: train one with `python -m training train`")
    path, root = find_version(models_dir, version, bundled)
    verify_version(path, root)
    return path


def read_history(models_dir: Path) -> list[dict]:
    """The versions made current, oldest first (`{"version", "time", "by"}`); unreadable lines are skipped."""
    try:
        lines = (Path(models_dir) / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{Path(models_dir) / HISTORY_FILE}: unreadable: {exc}") from exc
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
            check_version_name(entry["version"])
        except (ValueError, TypeError, KeyError, ArtifactError):
            continue
        entries.append(entry)
    return entries


@contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    """Serialise writers of CURRENT and HISTORY (the retrain gate and an operator's activation): an
    exclusive `flock` on the models directory itself, so no lock file is left beside the versions."""
    fd = os.open(models_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_writable(models_dir: Path, bundled=CONFIGURED) -> None:
    """Refuse (`ArtifactError`) to keep a current-version pointer in the bundled, read-only directory."""
    root = _bundled(bundled)
    models_dir = Path(models_dir)
    if root is not None and root.exists() and models_dir.exists() and models_dir.resolve() == root.resolve():
        raise ArtifactError(
            f"{models_dir} holds the bundled default model and is read-only: point HTA_HOME or "
            "HTA_MODELS_DIR at a directory of your own (or write a version there with --no-current)"
        )


def set_current(models_dir: Path, version: str, chosen_by: str = "operator", bundled=CONFIGURED) -> None:
    """Make `version` current after verifying it, and record who chose it in `HISTORY`; atomic.

    `chosen_by` is "operator", "gate" or "training". The bundled directory is never written.
    """
    if chosen_by not in CHOOSERS:
        raise ValueError(f"chosen_by must be one of {CHOOSERS}, got {chosen_by!r}")
    models_dir = Path(models_dir)
    check_writable(models_dir, bundled)
    path, holder = find_version(models_dir, version, bundled)
    verify_version(path, holder)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with _locked(models_dir):
            verify_version(path, holder)  # again under the lock: it could have changed while we waited
            entry = {"version": version, "time": datetime.now(UTC).isoformat(timespec="seconds"), "by": chosen_by}
            kept = [json.dumps(e) for e in read_history(models_dir)][-(HISTORY_KEEP - 1) :]
            write_text_atomic(models_dir / HISTORY_FILE, "\n".join([*kept, json.dumps(entry)]) + "\n")
            write_text_atomic(models_dir / CURRENT_FILE, version + "\n")
    except OSError as exc:
        raise ArtifactError(f"cannot make {version} current in {models_dir}: {exc}") from exc


@dataclass(frozen=True)
class PointerState:
    """The current version and the history of versions made current, as a pointer store holds them (not
    files): `generation` changes whenever they do."""

    current: str | None
    history: list[dict] = field(default_factory=list)
    generation: object = None


class VersionPointer:
    """Where the current version is recorded: read it, change it. `FilePointer` is the files' one."""

    def state(self) -> PointerState | None:
        """The pointer for `choose_version`, or None when it reads ``CURRENT`` and ``HISTORY`` itself."""
        return None

    def current(self) -> str | None:
        """The version in force (else the bundled default), or None."""
        raise NotImplementedError

    def history(self) -> list[dict]:
        """The versions made current, oldest first."""
        raise NotImplementedError

    def set_current(self, version: str, chosen_by: str = "operator") -> None:
        """Verify `version` and make it current, recording who chose it."""
        raise NotImplementedError


class FilePointer(VersionPointer):
    """The pointer in the models directory's ``CURRENT`` and ``HISTORY`` files (the functions above)."""

    def __init__(self, models_dir: Path | str, bundled=CONFIGURED):
        self.models_dir, self.bundled = Path(models_dir), bundled

    def current(self) -> str | None:
        return current_version(self.models_dir, self.bundled)

    def history(self) -> list[dict]:
        return read_history(self.models_dir)

    def set_current(self, version: str, chosen_by: str = "operator") -> None:
        set_current(self.models_dir, version, chosen_by, self.bundled)


@dataclass
class Choice:
    """What to serve: `version` at `path`, and why (`fallback` is True when it is not the current one)."""

    version: str
    path: Path
    manifest: dict
    current: str | None
    fallback: bool = False
    reason: str | None = None
    chosen_by: str | None = None
    inputs: list[Path] = field(default_factory=list)
    waiting_for: str | None = None  # a current version whose files this host cannot see yet (a shared directory)


def version_inputs(path: Path) -> list[Path]:
    """The paths whose change can change a version's verification: the directory, its manifest, every
    file a version may hold (`VERSION_FILES`) and the folders holding them (a file added there is refused)."""
    folders = sorted({path / name for name in VERSION_FILES for name in [name.rpartition("/")[0]] if name})
    return [path, path / MANIFEST_FILE, *folders, *(path / name for name in VERSION_FILES)]


def choose_version(
    models_dir: Path, bundled=CONFIGURED, fallback: bool = True, pointer: PointerState | None = None
) -> Choice:
    """The version to serve, decided from the files alone (see the module docstring), or from `pointer`
    and the versions' files when the pointer is kept elsewhere.

    `Choice.inputs` lists every path the decision read: while none of them changes (inode, size, times)
    the decision stands. Raises `NoGoodVersion` with the reason when nothing may be served.
    """
    models_dir = Path(models_dir)
    root = _bundled(bundled)
    inputs = ([] if pointer is not None else [models_dir / CURRENT_FILE, models_dir / HISTORY_FILE]) + (
        [root] if root else []
    )
    problems = []

    def attempt(name: str) -> tuple[Path, dict] | None:
        try:
            path, holder = find_version(models_dir, name, bundled)
        except ArtifactError as exc:
            inputs.append(models_dir / name)
            problems.append(str(exc))
            return None
        inputs.extend(version_inputs(path))
        try:
            return path, verify_version(path, holder)
        except (ArtifactError, OSError) as exc:
            problems.append(str(exc))
            return None

    state, bad_pointer = pointer, None
    if state is not None:
        pointer = state.current
    else:
        try:
            pointer = read_pointer(models_dir)
        except ArtifactError as exc:
            pointer, bad_pointer = None, str(exc)
    default = bundled_default(bundled)
    if pointer is None and bad_pointer is None:
        if default is None:
            raise NoGoodVersion(
                f"no model: {models_dir} has no {CURRENT_FILE} and there is no bundled default model", inputs
            )
        found = attempt(default)
        if found is None:
            raise NoGoodVersion(f"the bundled default model {default} does not verify: {problems[-1]}", inputs)
        return Choice(default, found[0], found[1], default, chosen_by="bundled default", inputs=inputs)
    if pointer is not None:
        found = attempt(pointer)
        if found is not None:
            return Choice(pointer, found[0], found[1], pointer, inputs=inputs)
        reason = f"the current version {pointer} does not verify: {problems[-1]}"
    else:
        reason = bad_pointer
    if not fallback:
        raise NoGoodVersion(f"{reason}; falling back to an earlier version is off (HTA_MODEL_FALLBACK=false)", inputs)
    history = state.history if state is not None else read_history(models_dir)
    tried = {pointer}
    for entry in reversed(history):
        name = entry["version"]
        if name in tried:
            continue
        tried.add(name)
        found = attempt(name)
        if found is not None:
            return Choice(name, found[0], found[1], pointer, True, reason, entry.get("by"), inputs)
    if default is not None and default not in tried:
        found = attempt(default)
        if found is not None:
            return Choice(default, found[0], found[1], pointer, True, reason, "bundled default", inputs)
    raise NoGoodVersion(f"{reason}; and no earlier version chosen by an operator or the gate verifies", inputs)


def remove_stale_temporaries(models_dir: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Delete `.tmp-*` version directories and `.*.part` files older than `older_than` seconds (left by
    killed trainings and writes); returns what was removed."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for child in models_dir.iterdir():
        if not (child.name.startswith(".tmp-") or (child.name.startswith(".") and child.name.endswith(".part"))):
            continue
        try:
            if child.lstat().st_mtime > cutoff:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        except FileNotFoundError:
            continue
        removed.append(child)
    return removed
