"""The bad input record (`RecordError`) and the parsing of one JSONL line into a record.

Every reader of records — `predict` and `score` (`classifier.batch.readers`), training data
(`training.data`) and selection pools (`training.pool`) — reads lines through `classifier.batch.readers`
and parses them here, so a bad record is reported the same way everywhere: ``FILE:LINE: message``.
"""

from __future__ import annotations

import json
import re

from classifier.io import NotJsonError, loads

MAX_SOURCE_CHARS = 256
# A source name becomes a Prometheus label value and a line of the service monitor's source list: no control
# characters (a newline, a tab, C1 controls), which no feed's name needs.
CONTROL_CHARACTER = re.compile(r"[\u0000-\u001f\u007f-\u009f]")


def source_name_problem(name: str) -> str | None:
    """What is wrong with a source name (the register a text comes from), or None: 1 to 256 characters,
    none of them a control character."""
    if not 1 <= len(name) <= MAX_SOURCE_CHARS:
        return f"must have 1 to {MAX_SOURCE_CHARS} characters"
    found = CONTROL_CHARACTER.search(name)
    if found:
        return (
            f"contains a control character (U+{ord(found.group()):04X}) at character {found.start()}: "
            "a source name is printable text"
        )
    return None


class RecordError(Exception):
    """A bad input record or file: `path`, `line` (None when the whole file or document is to blame) and
    `message`; its text is ``path:line: message`` (``path: message`` without a line)."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable, so a worker process can hand it to the parent
        return (type(self), (self.path, self.line, self.message))

    def to_dict(self) -> dict:
        """The JSON form written to `score --errors`: source, line, error."""
        return {"source": self.path, "line": self.line, "error": self.message}


def parse_object(raw: str, path, line: int | None) -> dict:
    """Parse one JSON text that must be an object, or raise `RecordError`."""
    try:
        record = loads(raw)
    except json.JSONDecodeError as exc:
        raise RecordError(path, line, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except NotJsonError as exc:
        raise RecordError(path, line, f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise RecordError(path, line, f"expected a JSON object, got {type(record).__name__}")
    return record


def parse_jsonl_record(raw: str, path, line: int | None, text_field: str = "text") -> dict:
    """Parse one JSONL line into a dict with a non-empty string `text_field`, or raise `RecordError`."""
    record = parse_object(raw, path, line)
    text = record.get(text_field)
    if text is None:
        raise RecordError(path, line, f"missing field {text_field!r}")
    if not isinstance(text, str):
        raise RecordError(path, line, f"field {text_field!r} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise RecordError(path, line, f"field {text_field!r} is empty")
    return record
