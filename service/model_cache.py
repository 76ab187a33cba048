"""Per-process holder of the `Predictor` to serve, decided from the files on disk so that every worker
of a server serves the same version.

`current()` stats the pointer files (``CURRENT``, ``HISTORY``) on every request, and every file the last
decision read (the examined versions' directories and files too: a dozen ``os.stat`` calls) at most once
per `recheck_seconds` (``HTA_MODEL_RECHECK_SECONDS``, 1 s; 0 = every request). When any of them changed,
the version to serve is decided again with `classifier.versions.choose_version` — the current version if
it verifies, else the newest earlier version an operator or the gate made current, else the bundled
default — and loaded if it differs from the one in memory. The decision depends on the files alone, so
all workers reach the same one: a promotion or rollback (a new ``CURRENT``) from their next request, a
version that stops verifying (a corrupted or removed file) within `recheck_seconds`, even in a worker
that still holds it in memory. Callers take the returned reference once per request, so one response
never mixes two versions.

Why two periods: stat-ing every input on every request cost 40 µs of a 600 µs single-passage predict
(`bench/bench_service.py`, issue 19); a promotion must be seen at once, a file damaged in place is an
accident that a second's delay does not make worse.

With the pointer kept in the database (several hosts, `service.pointer`), the decision reads the pointer
this process holds in memory (kept fresh by a listener thread: a request never waits for the database)
and the versions' files. A current version whose directory this host cannot see yet (a shared directory
still syncing) does not make it fall back: the version in memory keeps serving, and `state()` says it is
waiting for the new one, until its files appear.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

from classifier.artifacts import ArtifactError
from classifier.predictor import Predictor
from classifier.versions import (
    CONFIGURED,
    CURRENT_FILE,
    HISTORY_FILE,
    Choice,
    NoGoodVersion,
    VersionPointer,
    choose_version,
)

log = logging.getLogger("service.model")


class NoModel(Exception):
    """No model version may be served."""


def _stamp(paths: list[Path]) -> tuple:
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(stamps)


class ModelCache:
    """Caches one `Predictor` per process and decides again whenever a file the decision read changes."""

    def __init__(
        self,
        models_dir: Path | str,
        bundled=CONFIGURED,
        fallback: bool = True,
        pointer: VersionPointer | None = None,
        recheck_seconds: float = 0.0,
    ):
        self.models_dir = Path(models_dir)
        self.bundled = bundled
        self.fallback = fallback
        self.pointer = pointer  # None or a file pointer: CURRENT and HISTORY decide
        self.recheck_seconds = recheck_seconds
        self._predictor: Predictor | None = None
        self._choice: Choice | None = None
        self._inputs: list[Path] = []
        self._stamp: tuple | None = None  # (the database pointer's generation or None, the inputs' stamps)
        self._pointers = [str(self.models_dir / CURRENT_FILE), str(self.models_dir / HISTORY_FILE)]
        self._watched = list(self._pointers)
        self._watched_stamp: tuple | None = None
        self._recheck_at = 0.0
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, config, pointer: VersionPointer | None = None) -> ModelCache:
        """The cache of a service's settings (MODELS_DIR, BUNDLED_MODELS_DIR, MODEL_FALLBACK,
        MODEL_RECHECK_SECONDS)."""
        return cls(
            config["MODELS_DIR"],
            config.get("BUNDLED_MODELS_DIR"),
            config.get("MODEL_FALLBACK", True),
            pointer,
            config.get("MODEL_RECHECK_SECONDS", 0.0),
        )

    def _pointer_state(self):
        return None if self.pointer is None else self.pointer.state()

    def _full_stamp(self) -> tuple:
        state = self._pointer_state()
        return (None if state is None else state.generation, _stamp(self._inputs))

    def current(self) -> Predictor:
        """The predictor to serve now; `NoModel` (with the reason) when no version may be served."""
        if self._stamp is None or self._changed():
            self._decide()
        if self._predictor is None:
            raise NoModel(self.last_error or f"no model in {self.models_dir}")
        return self._predictor

    def _changed(self) -> bool:
        """Whether what the last decision read changed: the database pointer's generation and the watched
        paths (the pointer files, a version waited for) at every call, every input when `recheck_seconds`
        have passed since the last full check."""
        state = self._pointer_state()
        if (None if state is None else state.generation) != self._stamp[0]:
            return True
        if _stamp(self._watched) != self._watched_stamp:
            return True
        now = time.monotonic()
        if now < self._recheck_at:
            return False
        self._recheck_at = now + self.recheck_seconds
        return _stamp(self._inputs) != self._stamp[1]  # the generation was compared above

    def _remember(self, inputs: list[Path], stamp: tuple | None, waiting_for: Path | None = None) -> None:
        """Keep what the decision read and its stamps, and the stamps of the paths watched at every call:
        the pointer files, and the directory of a version this host waits for."""
        self._inputs, self._stamp = inputs, stamp
        self._watched = self._pointers + ([str(waiting_for)] if waiting_for is not None else [])
        # the decision's own stamps of the pointer files when it read them (it lists them first): a change
        # between that read and now is then seen on the next request too
        read_first = waiting_for is None and stamp is not None and [str(path) for path in inputs[:2]] == self._pointers
        self._watched_stamp = stamp[1][:2] if read_first else _stamp(self._watched)
        self._recheck_at = time.monotonic() + self.recheck_seconds

    def _decide(self) -> None:
        with self._lock:
            if self._stamp is not None and self._full_stamp() == self._stamp:
                return
            error, inputs = None, []
            state = self._pointer_state()
            if state is not None and self._keep_waiting(state):
                return
            for _attempt in range(3):  # a file replaced while it was read: decide again
                try:
                    choice = choose_version(self.models_dir, self.bundled, self.fallback, state)
                except NoGoodVersion as exc:
                    error, inputs = str(exc), exc.inputs
                    break
                except (ArtifactError, OSError) as exc:
                    error, inputs = f"cannot read the models directory {self.models_dir}: {exc}", []
                    break
                before = _stamp(choice.inputs)
                try:
                    predictor = self._load(choice)
                except (ArtifactError, OSError, ValueError, KeyError) as exc:
                    error, inputs = f"model {choice.version} failed to load: {exc}", []
                    continue
                if _stamp(choice.inputs) == before:
                    self._set(predictor, choice, (None if state is None else state.generation, before))
                    return
            self._fail(error or "the model files kept changing while they were read", inputs, state)

    def _keep_waiting(self, state) -> bool:
        """When the pointer names a version this host cannot see yet while another is in memory: keep serving
        that one (its choice says what it waits for) until the new version's directory appears."""
        wanted, loaded = state.current, self._predictor
        if wanted is None or loaded is None or loaded.version == wanted or self._choice is None:
            return False
        roots = [self.models_dir] + [Path(b) for b in [self._bundled_root()] if b is not None]
        if any(os.path.lexists(root / wanted) for root in roots):
            return False
        reason = (f"version {wanted} is current but its files are not in {self.models_dir} on this host yet; "
                  f"serving {loaded.version} until they appear")  # fmt: skip
        if self._choice.waiting_for != wanted:
            log.warning("%s", reason)
        inputs = [self.models_dir / wanted, self.models_dir, *self._choice.inputs]
        self._choice = replace(self._choice, current=wanted, reason=reason, waiting_for=wanted, inputs=inputs)
        self._remember(inputs, (state.generation, _stamp(inputs)), waiting_for=self.models_dir / wanted)
        return True

    def _bundled_root(self):
        from classifier.versions import _bundled

        return _bundled(self.bundled)

    def _load(self, choice: Choice) -> Predictor:
        loaded = self._predictor
        if loaded is not None and loaded.version == choice.version and loaded.manifest == choice.manifest:
            return loaded
        return Predictor.load(choice.path)

    def _fail(self, error: str, inputs: list[Path], state=None) -> None:
        if error != self.last_error:
            log.error("no model version can be served: %s", error)
        # Nothing in memory is served any more: every worker answers 503 alike, until a file changes.
        self._predictor, self._choice, self.last_error = None, None, error
        self._remember(inputs, (None if state is None else state.generation, _stamp(inputs)) if inputs else None)

    def _set(self, predictor: Predictor, choice: Choice, stamp: tuple) -> None:
        previous, before = self._predictor, self._choice
        self._predictor, self._choice = predictor, choice
        self._remember(choice.inputs, stamp)
        self.last_error = None
        if before is not None and (before.version, before.fallback) == (choice.version, choice.fallback):
            return
        if before is not None and before.waiting_for == choice.version:
            log.info("the files of %s appeared: serving it", choice.version)
        if choice.fallback:
            log.error("serving %s instead of the current version: %s", choice.version, choice.reason)
        elif previous is not None and previous.version != choice.version:
            log.info("model switched from %s to %s", previous.version, choice.version)
        else:
            log.info("model %s loaded", choice.version)

    def state(self) -> dict:
        """What this process serves and why: for /readyz, /v1/model and the metrics."""
        with contextlib.suppress(NoModel):
            self.current()
        choice = self._choice
        if choice is None:
            return {"serving": None, "current": None, "fallback": False, "reason": self.last_error}
        state = {
            "serving": choice.version,
            "current": choice.current,
            "fallback": choice.fallback,
            "chosen_by": choice.chosen_by,
            "reason": choice.reason,
        }
        if choice.waiting_for:
            state["waiting_for"] = choice.waiting_for
        return state

    def loaded_version(self) -> str | None:
        """The version held in memory, if any."""
        return self._predictor.version if self._predictor else None
