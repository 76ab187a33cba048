"""The current-version pointer of a PostgreSQL store: a row every instance reads (`DatabasePointer`).

Promotion and rollback write the row (and its history) in one transaction that NOTIFYs the channel
`service.store.POINTER_CHANNEL`. Each process holds the pointer in memory and a listener thread re-reads it
on every notification and every ``HTA_POINTER_POLL_SECONDS`` (what a lost connection may have missed), so
`state()` never touches the database: a prediction neither waits for nor fails with the database, and
every instance serves a promoted version from its next request after the notification (milliseconds).
The versions' files stay in the shared ``HTA_MODELS_DIR`` and are verified before they are made current
and before they are served, as with the file pointer. A database without a pointer yet takes the models
directory's ``CURRENT`` and ``HISTORY`` (once; afterwards the files are not read).
"""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path

from classifier.versions import (
    CHOOSERS,
    CONFIGURED,
    PointerState,
    VersionPointer,
    bundled_default,
    find_version,
    verify_version,
)
from service.store import POINTER_CHANNEL, StorageError, Store, read_pointer_row, seed_pointer_rows, write_pointer_row

log = logging.getLogger("service.pointer")
DEFAULT_POLL_SECONDS = 5.0


def pointer_of(store: Store, models_dir: Path | str, bundled=CONFIGURED, poll_seconds: float | None = None):
    """The pointer of a store: the models directory's files with SQLite, the database row with PostgreSQL
    (`poll_seconds` given: a listener thread keeps it in memory, as a serving process needs)."""
    from classifier.versions import FilePointer

    if store.kind != "postgresql":
        return FilePointer(models_dir, bundled)
    return DatabasePointer(store, models_dir, bundled, poll_seconds)


class DatabasePointer(VersionPointer):
    """The pointer in the store's `model_pointer` and `model_history` tables."""

    def __init__(self, store: Store, models_dir: Path | str, bundled=CONFIGURED, poll_seconds: float | None = None):
        self.store, self.models_dir, self.bundled = store, Path(models_dir), bundled
        self._state: PointerState = read_pointer_row(store)
        if self._state.current is None:
            self._seed()
        self._stop = threading.Event()
        if poll_seconds is not None:
            thread = threading.Thread(target=_listen, args=(weakref.ref(self), poll_seconds), daemon=True,
                                      name="hta-pointer")  # fmt: skip
            thread.start()

    def _seed(self) -> None:
        """A database without a pointer takes the one the models directory's files hold (a host moving from
        SQLite keeps serving its version; `migrate-store` copies it too)."""
        from classifier.artifacts import ArtifactError
        from classifier.versions import read_history, read_pointer

        try:
            current, history = read_pointer(self.models_dir), read_history(self.models_dir)
        except ArtifactError as exc:
            log.warning("the models directory's pointer files are not taken over: %s", exc)
            return
        if seed_pointer_rows(self.store, current, history):
            log.info("the database's current version is %s, taken from %s", current, self.models_dir)
        self.refresh()

    def state(self) -> PointerState:
        """The pointer as this process last read it (no database access)."""
        return self._state

    def refresh(self) -> PointerState:
        """Read the pointer from the database now."""
        self._state = read_pointer_row(self.store)
        return self._state

    def current(self) -> str | None:
        return self.refresh().current or bundled_default(self.bundled)

    def history(self) -> list[dict]:
        return self.refresh().history

    def set_current(self, version: str, chosen_by: str = "operator") -> None:
        """Verify the version's files (`classifier.artifacts.ArtifactError` if they fail), then write the row."""
        if chosen_by not in CHOOSERS:
            raise ValueError(f"chosen_by must be one of {CHOOSERS}, got {chosen_by!r}")
        path, holder = find_version(self.models_dir, version, self.bundled)
        verify_version(path, holder)
        write_pointer_row(self.store, version, chosen_by)
        self.refresh()

    def stop(self) -> None:
        """Stop the listener thread (within a poll period)."""
        self._stop.set()


def _listen(ref, poll_seconds: float) -> None:
    """LISTEN for pointer changes and re-read the pointer on each, and every `poll_seconds`; reconnect after a
    failure (the pointer in memory keeps serving meanwhile). Ends when the pointer is stopped or collected."""
    import psycopg

    failing = False
    while True:
        pointer = ref()
        if pointer is None or pointer._stop.is_set():
            return
        engine, stop = pointer.store.engine, pointer._stop
        del pointer
        if engine.closed.is_set():
            return
        try:
            with engine.direct() as conn:
                conn.execute(f"LISTEN {POINTER_CHANNEL}")
                while not stop.is_set() and not engine.closed.is_set():
                    pointer = ref()
                    if pointer is None:
                        return
                    pointer.refresh()
                    del pointer
                    if failing:
                        log.info("the pointer listener is connected to %s again", engine.display)
                        failing = False
                    for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
                        pass
        except (psycopg.Error, StorageError) as exc:
            if not failing:
                log.warning("the pointer listener lost %s: %s; keeping the pointer in memory", engine.display, exc)
                failing = True
            if stop.wait(min(poll_seconds, 1.0)):
                return
