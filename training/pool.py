"""Reading a pool of unlabelled text for selection: JSONL or CSV rows, or documents cut into passages.

A row of the pool is a passage to review. Input records are passages as they are, or documents that
are segmented (`classifier.segment`) into passages which keep the document's id and their offsets:
``document_id``, ``passage_index``, ``start``, ``end`` (``text == document[start:end]``), ``kind``. A
record without an ``id`` gets ``line-N`` (its line in the file). Problems raise `PoolError` naming the
file and line.
"""

from __future__ import annotations

import csv
from pathlib import Path

from classifier.io import InputError, parse_jsonl_record
from classifier.segment import segment

PASSAGE_MODES = ("auto", "always", "never")


class PoolError(Exception):
    """A bad pool file or record; the message starts with ``FILE:LINE:`` where a line is to blame."""


def _jsonl_records(path: Path, text_field: str):
    with open(path, encoding="utf-8", newline="") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield line_no, parse_jsonl_record(raw, str(path), line_no, text_field)
            except InputError as exc:
                raise PoolError(str(exc)) from None


def _csv_records(path: Path, text_field: str):
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header = next(reader, None)
        if not header:
            raise PoolError(f"{path}:1: empty CSV file: a header row is needed")
        if text_field not in header:
            raise PoolError(f"{path}:1: no {text_field!r} column in the CSV header {header}")
        line_no = reader.line_num + 1
        for values in reader:
            if values:
                if len(values) != len(header):
                    raise PoolError(f"{path}:{line_no}: {len(values)} fields where the header has {len(header)}")
                record = dict(zip(header, values, strict=True))
                if not record[text_field].strip():
                    raise PoolError(f"{path}:{line_no}: field {text_field!r} is empty")
                yield line_no, record
            line_no = reader.line_num + 1


def _text_document(path: Path, text_field: str):
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise PoolError(f"{path}: empty document")
    yield 1, {"id": path.name, text_field: text}


def _passages(record: dict, line_no: int, text_field: str, mode: str) -> list[dict]:
    record = dict(record)
    if record.get("id") in (None, ""):
        record["id"] = f"line-{line_no}"
    if mode == "never":
        return [record]
    text = record[text_field]
    passages = segment(text)
    if mode == "auto" and len(passages) <= 1:
        return [record]
    document_id = record.pop("id")
    del record[text_field]
    return [
        {
            **record,
            "id": f"{document_id}#{index}",
            "document_id": document_id,
            "passage_index": index,
            "start": passage.start,
            "end": passage.end,
            "kind": passage.kind,
            text_field: passage.text,
        }
        for index, passage in enumerate(passages)
    ]


def read_pool(path: Path | str, *, text_field: str = "text", passages: str = "auto") -> list[dict]:
    """The pool's rows: JSONL (``.jsonl``/``.json``/other), CSV (``.csv``/``.tsv``) or one ``.txt`` document.

    `passages`: ``auto`` segments texts of more than one passage, ``always`` every text, ``never`` none
    (a ``.txt`` document is always segmented).
    """
    if passages not in PASSAGE_MODES:
        raise ValueError(f"passages must be one of {PASSAGE_MODES}, got {passages!r}")
    path = Path(path)
    if not path.is_file():
        raise PoolError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        records = _csv_records(path, text_field)
    elif suffix == ".txt":
        records, passages = _text_document(path, text_field), "always"
    else:
        records = _jsonl_records(path, text_field)
    rows: list[dict] = []
    try:
        for line_no, record in records:
            rows.extend(_passages(record, line_no, text_field, passages))
    except UnicodeDecodeError as exc:
        raise PoolError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except csv.Error as exc:
        raise PoolError(f"{path}: {exc}") from None
    if not rows:
        raise PoolError(f"{path}: no rows: the file is empty")
    return rows
