"""Chunk scoring: parse a chunk's items, score them with a `Predictor`, render the output text.

`score_chunk` is what every way of running runs (this process, forked workers, Dask workers): bad items
come back as `RecordError`s in input order, and the output is already text, so the parent only writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from classifier.batch.items import Item
from classifier.batch.readers import ByteRange, parse_item
from classifier.batch.writers import csv_row, csv_rows, jsonl_line
from classifier.records import RecordError, source_name_problem
from classifier.results import PassageMode


@dataclass(frozen=True)
class ScoreOptions:
    """Everything a worker needs besides the model to turn a chunk into output text (picklable)."""

    text_field: str = "text"
    source_field: str | None = None  # the field naming each record's source (its register), if any
    passages: PassageMode = PassageMode.AUTO
    all_passages: bool = False  # list every passage, not only those with a label
    evidence: int = 0  # evidence terms per fired label (0: none)
    output_format: str = "jsonl"
    csv_fields: tuple[str, ...] = ()  # echoed columns of CSV output


@dataclass
class ChunkResult:
    """What scoring a chunk returns: output text, bad items in input order, counts."""

    text: str
    errors: list[RecordError] = field(default_factory=list)
    records: int = 0
    passages: int = 0
    nbytes: int = 0
    unsupported: int = 0  # passages in a language the model does not read


def record_source(record: dict, field: str) -> str | None:
    """The source a record names in `field` (None when absent or null); ValueError when it is not a good one."""
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {field!r}: the source must be a string, got {type(value).__name__}")
    problem = source_name_problem(value)
    if problem is not None:
        raise ValueError(f"field {field!r}: the source {problem}")
    return value


def score_chunk(predictor, items: list[Item] | ByteRange, options: ScoreOptions) -> ChunkResult:
    """Parse, score and render one chunk; bad items are returned as errors, in input order."""
    if isinstance(items, ByteRange):
        items = items.items()
    result = ChunkResult(text="", nbytes=sum(item.nbytes for item in items))
    errors: list[tuple[int, RecordError]] = []
    records, texts, where, sources = [], [], [], []
    for position, item in enumerate(items):
        if item.kind == "skip":
            continue
        try:
            record = parse_item(item, options.text_field)
        except RecordError as exc:
            errors.append((position, exc))
            continue
        if options.source_field is not None:
            try:
                sources.append(record_source(record, options.source_field))
            except ValueError as exc:
                errors.append((position, RecordError(item.path, item.line, str(exc))))
                continue
        texts.append(record.pop(options.text_field))
        records.append(record)
        where.append(position)
    named = any(source is not None for source in sources)
    scored = predictor.score_documents(texts, options.passages, options.evidence, source=sources if named else None)
    version, all_passages = predictor.version, options.all_passages
    if options.output_format == "csv":
        rows = []
        for position, record, res in zip(where, records, scored, strict=True):
            try:
                rows.append(csv_row(record, res, version, options.csv_fields, all_passages))
            except ValueError as exc:
                item = items[position]
                errors.append((position, RecordError(item.path, item.line, str(exc))))
                continue
            result.passages += res.passage_count
            result.unsupported += res.unsupported_passages
        result.records = len(rows)
        result.text = csv_rows(rows)
    else:
        result.text = "".join([jsonl_line(record, res, version, all_passages) for record, res in zip(records, scored)])  # noqa: B905
        result.passages = sum(res.passage_count for res in scored)
        result.unsupported = sum(res.unsupported_passages for res in scored if res.coverage.unsupported)
        result.records = len(records)
    result.errors = [error for _, error in sorted(errors, key=lambda pair: pair[0])]
    return result
