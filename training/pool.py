"""Reading a pool of unlabelled text for selection: JSONL or CSV rows, or documents cut into passages.

A row of the pool is a passage to review. Input records are passages as they are, or documents that
are segmented (`classifier.segment`) into passages which keep the document's id and their offsets:
``document_id``, ``passage_index``, ``start``, ``end`` (``text == document[start:end]``), ``kind``. A
record without an ``id`` gets ``line-N`` (its line in the file). Files are read by
`classifier.batch.readers.read_records`, as `score` reads them; problems raise
`classifier.records.RecordError` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

from classifier.batch.readers import read_records
from classifier.records import RecordError
from classifier.segment import segment

PASSAGE_MODES = ("auto", "always", "never")


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
    suffix = path.suffix.lower()
    if suffix == ".txt":
        ((_, record),) = read_records(str(path), "txt", text_field)
        records, passages = [(1, {"id": path.name, text_field: record[text_field]})], "always"
    else:
        records = read_records(str(path), "csv" if suffix in (".csv", ".tsv") else "jsonl", text_field)
    rows: list[dict] = []
    for line_no, record in records:
        rows.extend(_passages(record, line_no, text_field, passages))
    if not rows:
        raise RecordError(path, None, "no rows: the file is empty")
    return rows
