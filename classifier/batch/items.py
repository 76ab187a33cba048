"""The unit of batch input: one raw record (`Item`); a bad one is a `classifier.records.RecordError`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: one is made per input record, and frozen ones are 4x slower to make
class Item:
    """One raw input record: `kind` is "jsonl" (raw = line), "csv" (raw = row dict), "txt" (raw = text) or
    "skip" (a blank line, counted for progress only).

    When the record could not even be read (bad UTF-8, malformed CSV row, a line over the length bound),
    `raw` is None and `error` says why.
    """

    kind: str
    path: str  # the input file ("<stdin>" for standard input)
    line: int | None
    raw: object
    nbytes: int
    name: str | None = None  # a document's echoed name (txt)
    error: str | None = None
