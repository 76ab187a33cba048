"""The monitor's shared state across gunicorn workers: the bounded source names and the recent score window.

Both live in the server's monitor directory (``PROMETHEUS_MULTIPROC_DIR/hta-monitor``, made per server run;
none outside gunicorn, where they are kept in memory):

- `SourceNames`: the first ``HTA_MONITOR_MAX_SOURCES`` distinct source names any worker saw, in
  ``sources.txt`` (one name a line, appended under an ``flock``); every later name is counted as `OTHER`.
  A Prometheus label's every value is a separate series in every worker's files and in Prometheus itself:
  source names come from clients, so an unbounded label would let one client grow the metrics without
  limit (a feed sending a new name per request). The first names win because a server's feeds are known
  early and a flood of new names later should not push them out.
- `ScoreWindow`: each worker's ring of its last ``HTA_MONITOR_WINDOW`` passages (time, version, source,
  scores, decisions) in ``window-<pid>.bin``, a fixed-size memory-mapped file; readers merge every
  worker's ring and keep the newest ``HTA_MONITOR_WINDOW`` passages of the version served. Memory is
  bounded by workers x window; a dead worker's ring is removed by gunicorn's ``child_exit`` hook.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from pathlib import Path

import numpy as np

UNNAMED = "unnamed"  # the label of passages whose request named no source
OTHER = "other"  # the label of every source beyond the first HTA_MONITOR_MAX_SOURCES
MAX_LABELS = 32  # labels tracked per passage (a version with more: the first 32 in its order)
UNNAMED_INDEX, OTHER_INDEX = -1, -2
SOURCES_FILE = "sources.txt"
WINDOW_PREFIX = "window-"
ROW = np.dtype(
    [("time", "<f8"), ("version", "<u8"), ("source", "<i4"), ("scores", "<f4", (MAX_LABELS,)),
     ("fired", "u1", (MAX_LABELS,))]
)  # fmt: skip


def monitor_directory() -> Path | None:
    """The server's monitor directory (under gunicorn's Prometheus directory), created; None outside gunicorn."""
    base = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not base:
        return None
    path = Path(base) / "hta-monitor"
    path.mkdir(exist_ok=True)
    return path


def version_key(version: str) -> int:
    """A 64-bit key of a version name, as stored in the window's rows."""
    return int.from_bytes(hashlib.blake2b(version.encode("utf-8"), digest_size=8).digest(), "little")


class SourceNames:
    """The bounded set of source names kept as labels, shared by every worker through `directory`."""

    def __init__(self, directory: Path | None, limit: int):
        self.path = directory / SOURCES_FILE if directory is not None else None
        self.limit = max(int(limit), 0)
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._full = self.limit == 0
        self._lock = threading.Lock()

    def index(self, name: str | None) -> int:
        """The index of `name` in the shared list (registering it while there is room), or the index of
        `UNNAMED` (None) or `OTHER` (no room). A name seen before costs one dictionary look-up."""
        if name is None:
            return UNNAMED_INDEX
        found = self._index.get(name)
        if found is not None:
            return found
        if self._full:
            return OTHER_INDEX
        return self._register(name)

    def label(self, index: int) -> str:
        """The label of an index `index` gave (any worker's: the list is re-read when it is unknown here)."""
        if index == UNNAMED_INDEX:
            return UNNAMED
        if index < 0:
            return OTHER
        if index >= len(self._names):
            with self._lock:
                self._reload()
        return self._names[index] if index < len(self._names) else OTHER

    def names(self) -> list[str]:
        """Every name kept, in the order they were first seen (re-read from the shared file)."""
        with self._lock:
            self._reload()
            return list(self._names)

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for name in lines[len(self._names) : self.limit]:
            self._index[name] = len(self._names)
            self._names.append(name)
        self._full = len(self._names) >= self.limit

    def _register(self, name: str) -> int:
        with self._lock:
            if self.path is None:
                if name not in self._index and len(self._names) < self.limit:
                    self._index[name] = len(self._names)
                    self._names.append(name)
                self._full = len(self._names) >= self.limit
                return self._index.get(name, OTHER_INDEX)
            with open(self.path, "a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # one writer at a time across workers; released on close
                self._reload()
                if name not in self._index and not self._full:
                    handle.write(name + "\n")
                    handle.flush()
                    self._reload()
            return self._index.get(name, OTHER_INDEX)


class ScoreWindow:
    """This process's ring of recent passages, and the merged window of every worker's rings."""

    def __init__(self, directory: Path | None, size: int):
        self.directory = directory
        self.size = max(int(size), 1)
        self._rows: np.ndarray | None = None
        self._pid: int | None = None
        self._written = 0

    def _ring(self) -> np.ndarray:
        if self._rows is None or self._pid != os.getpid():  # a forked child writes its own ring
            self._pid, self._written = os.getpid(), 0
            if self.directory is None:
                self._rows = np.zeros(self.size, dtype=ROW)
            else:
                path = self.directory / f"{WINDOW_PREFIX}{self._pid}.bin"
                self._rows = np.memmap(path, dtype=ROW, mode="w+", shape=(self.size,))
        return self._rows

    def write(self, rows: np.ndarray) -> None:
        """Append `rows` (of dtype `ROW`) to this process's ring, overwriting its oldest."""
        ring = self._ring()
        rows = rows[-self.size :]
        at = (self._written + np.arange(len(rows))) % self.size
        ring[at] = rows
        self._written += len(rows)

    def recent(self, version: str) -> np.ndarray:
        """The newest `size` passages of `version` over every worker's ring, newest first."""
        key = version_key(version)
        parts = []
        if self.directory is None:
            if self._rows is not None:
                parts.append(np.array(self._rows))
        else:
            for path in self.directory.glob(f"{WINDOW_PREFIX}*.bin"):
                with contextlib.suppress(OSError, ValueError):  # a ring being created or removed: skip it
                    parts.append(np.fromfile(path, dtype=ROW))
        if not parts:
            return np.zeros(0, dtype=ROW)
        rows = np.concatenate(parts)
        rows = rows[(rows["time"] > 0) & (rows["version"] == key)]
        return rows[np.argsort(-rows["time"], kind="stable")][: self.size]


def remove_ring(directory: Path, pid: int) -> None:
    """Remove a dead worker's ring (gunicorn's ``child_exit``)."""
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{WINDOW_PREFIX}{pid}.bin").unlink()
