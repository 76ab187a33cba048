"""Rendering scored records as output text: JSONL lines and CSV rows (from a result's `to_json()`)."""

from __future__ import annotations

import csv
import json

from classifier.io import dumps
from classifier.results import DocumentResult, Result

OUTPUT_FORMATS = ("auto", "jsonl", "csv")
# Output columns that take precedence over echoed input fields of the same name in CSV output.
RESERVED = ("labels", "language", "unsupported_languages", "passages", "model_version")


def output_format_for(path: str | None, requested: str = "auto") -> str:
    """`requested` unless "auto"; else CSV for an output name ending in .csv, JSONL otherwise."""
    if requested != "auto":
        return requested
    return "csv" if str(path or "").lower().endswith(".csv") else "jsonl"


def result_json(result: Result, all_passages: bool) -> dict:
    """The result's JSON fields (every passage, or only those with a label)."""
    return result.to_json(all_passages) if isinstance(result, DocumentResult) else result.to_json()


def jsonl_line(record: dict, result: Result, version: str, all_passages: bool) -> str:
    """One output line: the echoed fields, the result's fields (replacing echoed ones), the model version."""
    return dumps({**record, **result_json(result, all_passages), "model_version": version}) + "\n"


def csv_row(record: dict, result: Result, version: str, fields: tuple[str, ...], all_passages: bool) -> list[str]:
    """One output row: echoed columns, labels joined by "|", a score per label (empty where the text was
    not scored: a language the model does not read), the text's language, its unsupported languages joined
    by "|", passages as JSON, version.

    Raises `ValueError` when an echoed value holds a lone surrogate (possible in JSON input), which UTF-8
    CSV cannot hold.
    """
    row = [_cell(name, record.get(name)) for name in echo_fields(fields)]
    row.append("|".join(result.labels))
    row.extend("" if score is None else repr(score) for score in result.scores.values())
    row.append(result.coverage.language or "")
    row.append("|".join(result.coverage.unsupported))
    if isinstance(result, DocumentResult):
        listed = result.passages if all_passages else [p for p in result.passages if p.labels]
        row.append(dumps([p.to_json() for p in listed]))
    else:
        row.append("")
    row.append(version)
    return row


def echo_fields(fields: tuple[str, ...]) -> list[str]:
    """Echoed CSV columns: output columns take precedence over input fields of the same name."""
    return [name for name in fields if name not in RESERVED and not name.startswith("score_")]


def csv_header_row(fields: tuple[str, ...], labels: tuple[str, ...]) -> list[str]:
    """The header of CSV output."""
    return [
        *echo_fields(fields),
        "labels",
        *(f"score_{label}" for label in labels),
        "language",
        "unsupported_languages",
        "passages",
        "model_version",
    ]


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"field {name!r} holds a lone surrogate ({value[exc.start]!r}), which CSV output cannot hold"
                ) from None
        return value
    return json.dumps(value, ensure_ascii=False) if _encodable(value) else json.dumps(value)


def _encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Buffer:
    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def csv_rows(rows: list[list[str]]) -> str:
    """CSV text of some rows (RFC 4180 quoting, \\n line ends)."""
    buffer = _Buffer()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return "".join(buffer.parts)
