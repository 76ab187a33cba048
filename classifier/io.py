"""Reading inputs and writing outputs for the command-line tools, with errors that name file and line."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path


class InputError(Exception):
    """A bad input record; the message names the file and line."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line, self.message = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


def parse_jsonl_record(raw: str, source: str, line_no: int, text_field: str = "text") -> dict:
    """Parse one JSONL line into a dict with a non-empty string `text_field`, or raise `InputError`."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(source, line_no, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InputError(source, line_no, f"expected a JSON object, got {type(record).__name__}")
    text = record.get(text_field)
    if text is None:
        raise InputError(source, line_no, f"missing field {text_field!r}")
    if not isinstance(text, str):
        raise InputError(source, line_no, f"field {text_field!r} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError(source, line_no, f"field {text_field!r} is empty")
    return record


@contextmanager
def open_input(path: str | None, encoding: str = "utf-8"):
    """Open `path` for reading text, or stdin for None or "-"; yields (handle, display name)."""
    if path in (None, "-"):
        yield sys.stdin, "<stdin>"
        return
    try:
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115 (closed by the `with` below)
    except OSError as exc:
        raise InputError(str(path), None, exc.strerror or str(exc)) from None
    with handle:
        yield handle, str(path)


@contextmanager
def atomic_output(path: str | None):
    """Write to a temporary file beside `path`, renamed over it only on success (stdout for None/"-").

    A failed or killed run leaves no partial file under the final name.
    """
    if path in (None, "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(record: dict) -> str:
    """Compact JSON of one output record (UTF-8 kept as is)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
