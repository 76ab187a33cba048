"""Per-process holder of the current `Predictor`, following ``models/CURRENT`` without a restart.

`current()` costs one ``os.stat`` per call: when the pointer file's inode, size or mtime changed it is
read again and, if it names another version, that version is loaded. A version that fails to load is
logged and the previous predictor keeps serving. Callers take the returned reference once per request,
so one response never mixes two versions.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from classifier.artifacts import CURRENT_FILE, ArtifactError, current_version
from classifier.predictor import Predictor

log = logging.getLogger("service.model")


class NoModel(Exception):
    """No model version could be loaded."""


class ModelStore:
    """Caches one `Predictor` per process and reloads it when the current version changes."""

    def __init__(self, models_dir: Path | str):
        self.models_dir = Path(models_dir)
        self._predictor: Predictor | None = None
        self._stamp: tuple | None = None
        self._failed: str | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.models_dir / CURRENT_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> Predictor:
        """The predictor of the current version (reloaded if it changed); `NoModel` when there is none."""
        stamp = self._stat()
        predictor = self._predictor
        if stamp != self._stamp or (predictor is None and stamp is not None):
            predictor = self._refresh(stamp)
        if predictor is None:
            raise NoModel(self.last_error or f"no current model in {self.models_dir}")
        return predictor

    def _refresh(self, stamp: tuple | None) -> Predictor | None:
        with self._lock:
            if stamp == self._stamp and self._predictor is not None:
                return self._predictor
            try:
                name = current_version(self.models_dir)
            except (ArtifactError, OSError) as exc:
                name, self.last_error = None, str(exc)
            if name is None:
                if self._predictor is None:
                    self.last_error = self.last_error or f"no current model in {self.models_dir}"
                self._stamp = stamp
                return self._predictor
            if self._predictor is not None and self._predictor.version == name:
                self._stamp = stamp
                return self._predictor
            try:
                predictor = Predictor.load(self.models_dir / name)
            except (ArtifactError, OSError, ValueError, KeyError) as exc:
                if self._failed != name:
                    log.error(
                        "model %s failed to load; still serving %s: %s",
                        name,
                        self._predictor.version if self._predictor else "nothing",
                        exc,
                    )
                self._failed = name
                self.last_error = f"model {name} failed to load: {exc}"
                self._stamp = stamp
                return self._predictor
            if self._predictor is not None:
                log.info("model switched from %s to %s", self._predictor.version, name)
            else:
                log.info("model %s loaded", name)
            self._predictor, self._stamp, self._failed, self.last_error = predictor, stamp, None, None
            return predictor

    def loaded_version(self) -> str | None:
        return self._predictor.version if self._predictor else None
