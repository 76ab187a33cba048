"""Start-up checks of `python -m service`, run before gunicorn starts: the model to serve, the feedback
database, and the leftovers of killed jobs. Each failure is a `StartupError` whose message says what is
wrong and what to do; `python -m service` prints it and exits with code 2 (no traceback).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from classifier.versions import (
    CURRENT_FILE,
    STALE_SECONDS,
    NoGoodVersion,
    choose_version,
    list_versions,
    read_history,
    read_pointer,
    remove_stale_temporaries,
)
from training import train_default_model

# Temporary directories of retrain jobs (`service.jobs`: a copy of the feedback text); one older than this
# belongs to a job that was killed (a running job's directory lives as long as its training).
RETRAIN_TMP_PREFIX = "hta-retrain-"
RETRAIN_TMP_STALE_SECONDS = 6 * 3600


class StartupError(Exception):
    """The service cannot start: the message says why and what to do."""


def say(message: str) -> None:
    """A start-up message on stderr."""
    print(f"service: {message}", file=sys.stderr, flush=True)


def no_model_at_all(models_dir: Path, bundled: Path | None) -> bool:
    """True when nothing could ever be served: no CURRENT, no history, no version in either directory."""
    return (
        not (Path(models_dir) / CURRENT_FILE).exists()
        and not read_history(models_dir)
        and not list_versions(models_dir, bundled)
    )


def check_model(config: Mapping, pointer=None) -> str:
    """Make sure a verified version will be served; returns its name.

    Has training train the default model only when there is no model at all. A current version that does not verify
    is never replaced: the newest earlier version an operator or the gate chose is served instead (said
    loudly) when `MODEL_FALLBACK` allows it, else start-up stops with the reason.
    """
    models_dir, bundled = Path(config["MODELS_DIR"]), config.get("BUNDLED_MODELS_DIR")
    state = None if pointer is None else pointer.state()  # the database's pointer (PostgreSQL), else the files
    if no_model_at_all(models_dir, bundled) and (state is None or state.current is None):
        train_default_model(models_dir, say)
        if state is not None:  # make it current for every instance, as training made it current in the files
            pointer.set_current(read_pointer(models_dir), "training")
            state = pointer.state()
    try:
        choice = choose_version(models_dir, bundled, config.get("MODEL_FALLBACK", True), state)
    except NoGoodVersion as exc:
        raise StartupError(f"no model version can be served: {exc}. {_what_to_do(models_dir, bundled)}") from None
    if choice.fallback:
        say(
            f"WARNING: {choice.reason}; serving {choice.version} (made current earlier by the "
            f"{choice.chosen_by}) until {CURRENT_FILE} names a version that verifies"
        )
    return choice.version


def _what_to_do(models_dir: Path, bundled) -> str:
    try:
        pointer = read_pointer(models_dir)
    except Exception:
        pointer = None
    names = list_versions(models_dir, bundled)
    listed = f"versions on disk: {', '.join(names)}" if names else "no version is on disk"
    return (
        f"Fix or replace the files of {pointer or 'the current version'}, or make a good version current "
        f"(write its name to {models_dir / CURRENT_FILE}); {listed}. The service never replaces the "
        "current version by itself."
    )


def check_database(config: Mapping):
    """Open, migrate and check the feedback database; returns the `Store`. `StartupError` says what is wrong."""
    from service.database import DatabaseURLError
    from service.store import StorageError, Store

    try:
        store = Store.from_config(config)
    except DatabaseURLError as exc:
        raise StartupError(str(exc)) from None
    try:
        return store.check()
    except StorageError as exc:
        if exc.code == "storage_schema_newer":  # the database is fine; this release is too old for it
            raise StartupError(f"{exc.message}.") from None
        if store.kind == "postgresql":
            raise StartupError(
                f"{exc.message}. Check HTA_DATABASE_URL and that the PostgreSQL server is up and accepts this user."
            ) from None
        raise StartupError(
            f"{exc.message}. Set HTA_FEEDBACK_DB to a writable file, or repair or move the file away."
        ) from None


def clean_leftovers(config: Mapping, now: float | None = None) -> list[Path]:
    """Remove what killed jobs left: `.tmp-*` version directories in the models directory and retrain
    temporary directories (copies of the feedback text) older than their grace periods."""
    removed = remove_stale_temporaries(Path(config["MODELS_DIR"]), STALE_SECONDS)
    cutoff = (now or time.time()) - RETRAIN_TMP_STALE_SECONDS
    for path in Path(tempfile.gettempdir()).glob(f"{RETRAIN_TMP_PREFIX}*"):
        try:
            if path.is_dir() and not path.is_symlink() and path.lstat().st_mtime < cutoff:
                shutil.rmtree(path)
                removed.append(path)
        except OSError:
            continue
    for path in removed:
        say(f"removed the leftover of a killed job: {path}")
    return removed


def check_analysts(config: Mapping) -> int:
    """Read the analysts file when one is configured; returns how many analysts it lists. `StartupError`
    names the file and line of a malformed one."""
    from service.analysts import AnalystsFileError, read_analysts

    if not config.get("ANALYSTS_FILE"):
        return 0
    try:
        analysts = read_analysts(config["ANALYSTS_FILE"])
    except AnalystsFileError as exc:
        raise StartupError(str(exc)) from None
    say(f"{len(analysts)} analysts in {config['ANALYSTS_FILE']}")
    return len(analysts)


def run_checks(config: Mapping) -> str:
    """Every start-up check in order; returns the version that will be served."""
    from service.database import database_url, is_postgresql
    from service.pointer import pointer_of

    clean_leftovers(config)
    store = pointer = None
    if is_postgresql(database_url(config)):  # the current version is the database's: it is checked first
        store = check_database(config)
        pointer = pointer_of(store, config["MODELS_DIR"])
    version = check_model(config, pointer)
    store = store or check_database(config)
    check_analysts(config)
    interrupted = store.mark_interrupted()
    if interrupted:
        say(f"marked interrupted retrain jobs as failed: {', '.join(interrupted)}")
    return version
