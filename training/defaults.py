"""The default model: trained on the bundled corpus when a service starts with no model at all."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path


def train_default_model(models_dir: Path, progress: Callable[[str], None]) -> Path:
    """Train the default model on the bundled corpus into `models_dir`, make it current, and stop the worker
    processes training leaves behind; returns the version's directory. `progress` hears each step."""
    from classifier.config import CORPUS_PATH
    from training.train import train_model

    progress(f"no model at all in {models_dir}; training the default model from the bundled corpus {CORPUS_PATH}")
    try:
        version_dir = train_model(CORPUS_PATH, models_dir=models_dir, make_current=True)
    finally:
        _stop_joblib_workers()
    progress(f"trained {version_dir.name} and made it current")
    return version_dir


def _stop_joblib_workers() -> None:
    # Training's parallel folds leave joblib's reusable loky workers idle for minutes, and their resource
    # trackers for as long as this process lives; a server that trained at start-up is then replaced (exec)
    # by gunicorn, so nothing else would ever stop them. `_stop` is private API of both trackers (pinned
    # joblib), hence the guard.
    import multiprocessing.resource_tracker

    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.backend import resource_tracker

    get_reusable_executor().shutdown(wait=True, kill_workers=True)
    for tracker in (resource_tracker._resource_tracker, multiprocessing.resource_tracker._resource_tracker):
        with contextlib.suppress(Exception):
            tracker._stop()
