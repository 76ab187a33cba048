"""Where output goes, checked before anything is scored: a regular file (written atomically), or a
stream that is written directly (stdout, a FIFO, a terminal or other device).

- A regular file is written to a hidden temporary file beside it and renamed over it on success.
- A path that exists and is not a regular file (``/dev/stdout``, a FIFO, ``/dev/null``) is opened and
  written directly, never renamed over.
- A symbolic link is resolved: a link to a regular file has that file replaced atomically (the link
  stays); a link to a stream is written through; a dangling link is refused.
- An output that is an input (the same file, or a hard link to it) is refused before anything is written.
- A missing or read-only folder, a full disk: an `OutputError` naming the output.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from classifier.records import RecordError


class OutputError(RecordError):
    """The output cannot be written: the message names the output path."""

    def __init__(self, path: str, message: str):
        super().__init__(str(path), None, message)

    def __reduce__(self):
        return (OutputError, (self.path, self.message))


def _inputs_identity(inputs: list[str]) -> dict[tuple[int, int], str]:
    found = {}
    for path in inputs:
        if path == "-":
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found[(st.st_dev, st.st_ino)] = path
        elif stat.S_ISDIR(st.st_mode):
            for dirpath, _, filenames in os.walk(path):
                for filename in filenames:
                    try:
                        inner = os.stat(os.path.join(dirpath, filename))
                    except OSError:
                        continue
                    found[(inner.st_dev, inner.st_ino)] = os.path.join(dirpath, filename)
    return found


# Kernel views of open files (/dev/stdout and /dev/fd/N lead to /proc/self/fd/N): even when they lead to a
# regular file (stdout redirected to one), that file is written through, never renamed over. Other paths
# under /dev/ are not special: /dev/shm holds ordinary files (device nodes are not regular files anyway).
STREAM_ROOTS = ("/proc/",)


def _through_stream_root(path: str) -> bool:
    """Whether `path`, or any symbolic link on the way to its target, is under `STREAM_ROOTS`."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        # Links among the folders count too (/dev/fd is a link to /proc/self/fd).
        current = os.path.join(os.path.realpath(os.path.dirname(current)), os.path.basename(current))
        if current.startswith(STREAM_ROOTS):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.join(os.path.dirname(current), os.readlink(current))
    return False


def resolve_output(path: str, inputs: list[str]) -> tuple[str, bool]:
    """(path to write, whether to write it atomically); raises `OutputError` when it must not be written."""
    if _through_stream_root(path) and os.path.exists(path):
        return path, False
    try:
        st = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        if os.path.islink(path):
            raise OutputError(path, f"is a symbolic link to a missing file ({os.readlink(path)})") from None
        parent = Path(path).parent
        if not parent.is_dir():
            raise OutputError(path, f"folder {parent} does not exist") from None
        return path, True
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(path, "is a folder")
    if not stat.S_ISREG(st.st_mode):
        return path, False
    same = _inputs_identity(inputs).get((st.st_dev, st.st_ino))
    if same is not None:
        if os.path.abspath(same) == os.path.abspath(path):
            raise OutputError(path, "is also an input; refusing to overwrite an input")
        raise OutputError(path, f"is the same file as input {same} (a link to it); refusing to overwrite an input")
    return (os.path.realpath(path) if os.path.islink(path) else path), True


class _CheckedWriter:
    """A text handle whose write errors (a full disk, a closed FIFO) become `OutputError`s naming the output."""

    def __init__(self, handle, name: str):
        self.handle, self.name = handle, name

    def write(self, text: str) -> None:
        try:
            self.handle.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, f"cannot write: {exc.strerror or exc}") from None

    def flush(self) -> None:
        try:
            self.handle.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, f"cannot write: {exc.strerror or exc}") from None


@contextmanager
def open_output(path: str | None, inputs: list[str] = ()):
    """A text writer for `path` (stdout for None or "-"), checked against `inputs` before it is opened.

    A regular file appears under its name only when the block succeeds; streams are written as they go.
    """
    if path in (None, "-"):
        writer = _CheckedWriter(sys.stdout, "<stdout>")
        yield writer
        writer.flush()
        return
    target, atomic = resolve_output(str(path), list(inputs))
    if not atomic:
        try:
            handle = open(target, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed below; "a": never truncate what stdout leads to)
        except OSError as exc:
            raise OutputError(path, f"cannot open: {exc.strerror or exc}") from None
        writer = _CheckedWriter(handle, str(path))
        try:
            yield writer
            writer.flush()
        finally:
            with suppress(OSError):
                handle.close()
        return
    parent = Path(target).parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent if str(parent) else ".", prefix=f".{Path(target).name}.", suffix=".part")
    except OSError as exc:
        raise OutputError(path, f"cannot write in {parent}: {exc.strerror or exc}") from None
    handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    try:
        writer = _CheckedWriter(handle, str(path))
        yield writer
        writer.flush()
        try:
            os.fsync(handle.fileno())
            handle.close()
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(path, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with suppress(OSError):
            handle.close()
        Path(tmp).unlink(missing_ok=True)
        raise
