"""The unit of batch input: one raw record (`Item`) and one bad record (`ItemError`)."""

from __future__ import annotations

from dataclasses import dataclass

from classifier.io import InputError


@dataclass(slots=True)  # not frozen: one is made per input record, and frozen ones are 4x slower to make
class Item:
    """One raw input record: `kind` is "jsonl" (raw = line), "csv" (raw = row dict), "txt" (raw = text) or
    "skip" (a blank line, counted for progress only).

    When the record could not even be read (bad UTF-8, malformed CSV row, a line over the length bound),
    `raw` is None and `error` says why.
    """

    kind: str
    source: str
    line: int | None
    raw: object
    nbytes: int
    name: str | None = None  # a document's echoed name (txt)
    error: str | None = None


@dataclass(frozen=True)
class ItemError:
    """A bad input record: file, line (None for a whole document) and message."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.source}:{self.line}: {self.message}" if self.line is not None else f"{self.source}: {self.message}"
        )

    def to_dict(self) -> dict:
        """The JSON form written to `--errors`: source, line, error."""
        return {"source": self.source, "line": self.line, "error": self.message}

    def to_exception(self) -> InputError:
        """The `InputError` that stops a run on this record."""
        return InputError(self.source, self.line, self.message)
