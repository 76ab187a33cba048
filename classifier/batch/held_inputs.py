"""Input files held open for a whole run, so every reader (and every forked worker) reads the same file.

A file replaced or deleted under its name, or changed in place, while a run reads it is reported as an
`RecordError` instead of being read as a mix of two files. Forked workers inherit the open descriptors
and read byte ranges with `os.pread` (no shared file offset); a process that did not fork from the
holder (a Dask worker) opens the path and checks that size and modification time are those the
client saw.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from classifier.records import RecordError

# path -> (descriptor, identity) of the files held by the `HeldInputs` of this process or its forking parent
_HELD: dict[str, tuple[int, FileIdentity]] = {}


@dataclass(frozen=True)
class FileIdentity:
    """What must stay the same while a file is read: device, inode, size, modification time."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        """The identity of a stat result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class HeldInputs:
    """Opens the regular input files at the start of a run and keeps them open until `close`."""

    def __init__(self, paths: list[str]):
        self.held: dict[str, tuple[int, FileIdentity]] = {}
        for path in paths:
            if path == "-" or path in self.held:
                continue
            try:
                # Only regular files are held: folders of documents and FIFOs are read as they come (opening
                # a FIFO here would block, and closing it again would cut off its writer).
                if not stat.S_ISREG(os.stat(path).st_mode):
                    continue
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
            except OSError as exc:
                self.close()
                raise RecordError(path, None, exc.strerror or str(exc)) from None
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # replaced by something else between stat and open
                os.close(fd)
                continue
            self.held[path] = (fd, FileIdentity.of(st))
        _HELD.update(self.held)

    def identity(self, path: str) -> FileIdentity | None:
        """The identity of a held file, or None."""
        entry = self.held.get(path)
        return entry[1] if entry else None

    def check(self) -> None:
        """Raise `RecordError` if a held file changed, or its name now points to another file or nothing."""
        for path, (fd, identity) in self.held.items():
            now = FileIdentity.of(os.fstat(fd))
            if (now.size, now.mtime_ns) != (identity.size, identity.mtime_ns):
                raise RecordError(
                    path, None, f"changed while being read (size {identity.size:,} -> {now.size:,} bytes)"
                )
            try:
                named = os.stat(path)
            except FileNotFoundError:
                raise RecordError(path, None, "was deleted while being read") from None
            if (named.st_dev, named.st_ino) != (identity.dev, identity.ino):
                raise RecordError(path, None, "was replaced by another file while being read")

    def close(self) -> None:
        """Close every held file."""
        for path, (fd, _) in self.held.items():
            _HELD.pop(path, None)
            os.close(fd)
        self.held = {}

    def __enter__(self) -> HeldInputs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_binary(path: str):
    """A binary reader of `path` from its start: over the held descriptor when the file is held."""
    entry = _HELD.get(path)
    if entry is None:
        return open(path, "rb")
    handle = open(os.dup(entry[0]), "rb")  # noqa: SIM115 (the caller closes it)
    handle.seek(0)
    return handle


def read_range(path: str, start: int, length: int, identity: FileIdentity | None) -> bytes:
    """`length` bytes of `path` from `start`: through the held descriptor when there is one (a forked
    worker), else by opening the path and checking its size and modification time against `identity`."""
    entry = _HELD.get(path)
    if entry is not None:
        data = os.pread(entry[0], length, start)
    else:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise RecordError(path, None, f"cannot be read by this worker: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if identity is not None and (st.st_size, st.st_mtime_ns) != (identity.size, identity.mtime_ns):
                raise RecordError(path, None, "differs from the file the client read (changed, or another copy)")
            data = os.pread(fd, length, start)
        finally:
            os.close(fd)
    if len(data) != length:
        raise RecordError(path, None, "changed while being read (shorter than when the run began)")
    return data
