"""Batch scoring: lazy readers, chunking, chunk scoring and output formatting for `python -m classifier score`.

Inputs are read lazily, item by item, so memory does not depend on the input size:

- JSONL (``.jsonl``/``.ndjson``/``.json`` or ``-`` for stdin): one record per line, a text field, other
  fields echoed;
- CSV (``.csv``; ``.tsv`` with tabs): a header row, a text column, other columns echoed;
- a folder of ``.txt`` documents (searched recursively, sorted) or a single ``.txt`` file: each file is
  one document, echoed as ``{"source": relative path}``.

A reader yields `Item`s: the raw form of a record (a JSONL line, a CSV row, a document's text) with its
file, line number and size. Parsing and validation happen in `score_chunk`, so they run in the worker
processes too; a bad item becomes an `ItemError` (file, line, message) returned with the chunk's
results, in input order. The formatted output of a chunk is a string, so the parent only writes.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from classifier.io import InputError, dumps, loads, parse_jsonl_record

DEFAULT_CHUNK_RECORDS = 2000
# A chunk is also closed at this many input bytes, so a folder of large documents stays bounded too.
CHUNK_BYTES = 8 << 20
# Below this much input, starting worker processes costs about what they save.
AUTO_PARALLEL_BYTES = 4 << 20
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv"}
INPUT_FORMATS = ("auto", "jsonl", "csv", "txt")
OUTPUT_FORMATS = ("auto", "jsonl", "csv")


@dataclass(slots=True)  # not frozen: one is made per input record, and frozen ones are 4x slower to make
class Item:
    """One raw input record: `kind` is "jsonl" (raw = line), "csv" (raw = row dict) or "txt" (raw = text).

    `raw` is an `InputError` message string instead when the item could not even be read (bad UTF-8,
    malformed CSV row), flagged by `error`.
    """

    kind: str
    source: str
    line: int | None
    raw: object
    nbytes: int
    name: str | None = None  # a document's relative path (txt)
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
        return {"source": self.source, "line": self.line, "error": self.message}

    def to_exception(self) -> InputError:
        return InputError(self.source, self.line, self.message)


@dataclass(frozen=True)
class ScoreOptions:
    """Everything a worker needs besides the model to turn a chunk into output text (picklable)."""

    text_field: str = "text"
    passages: str | None = None  # None: "always" for txt documents, "auto" otherwise
    all_passages: bool = False
    evidence: int = 0
    output_format: str = "jsonl"
    csv_fields: tuple[str, ...] = ()  # echoed columns of CSV output


@dataclass
class ChunkResult:
    """What scoring a chunk returns: output text, bad items in input order, counts."""

    text: str
    errors: list[ItemError] = field(default_factory=list)
    records: int = 0
    passages: int = 0
    nbytes: int = 0


# ---------------------------------------------------------------------------------------------- reading


def detect_format(path: str, requested: str = "auto") -> str:
    """The input format of `path`: `requested` unless "auto", else by folder / suffix (JSONL otherwise)."""
    if requested != "auto":
        return requested
    if path == "-":
        return "jsonl"
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".txt":
        return "txt"
    if p.suffix.lower() in CSV_SUFFIXES:
        return "csv"
    return "jsonl"


def csv_dialect(path: str) -> dict:
    """csv module options for a path: tab-separated for .tsv, comma otherwise."""
    return {"delimiter": "\t"} if Path(path).suffix.lower() == ".tsv" else {}


def check_inputs(paths: list[str], input_format: str, text_field: str) -> list[tuple[str, str]]:
    """Check every input up front (exists; CSV has the text column); returns [(path, format)].

    File-level problems are fatal whatever `--on-error` says: they are not bad lines.
    """
    checked = []
    for path in paths:
        fmt = detect_format(path, input_format)
        if path != "-" and not os.path.exists(path):
            raise InputError(path, None, "no such file or directory")
        if path == "-" and fmt != "jsonl":
            raise InputError(path, None, "stdin is read as JSONL only")
        if fmt == "txt" and not Path(path).is_dir() and not Path(path).is_file():
            raise InputError(path, None, "not a file or folder")
        if fmt in ("jsonl", "csv") and Path(path).is_dir():
            raise InputError(path, None, f"is a folder, not a {fmt.upper()} file (folders hold .txt documents)")
        if fmt == "csv":
            header = csv_header(path)
            if text_field not in header:
                raise InputError(path, 1, f"no column {text_field!r} in the header (columns: {', '.join(header)})")
        checked.append((path, fmt))
    return checked


def _binary_lines(path: str) -> Iterator[tuple[int, bytes]]:
    if path == "-":
        yield from enumerate(sys.stdin.buffer, start=1)
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the generator is done)
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    with handle:
        yield from enumerate(handle, start=1)


def _decode(raw: bytes, line_no: int) -> str:
    text = raw.decode("utf-8")
    return text[1:] if line_no == 1 and text.startswith("\ufeff") else text


def _jsonl_item(name: str, line_no: int, raw: bytes) -> Item:
    """The item of one raw JSONL line: a record, a blank line to skip, or a decoding error."""
    try:
        text = _decode(raw, line_no)
    except UnicodeDecodeError as exc:
        return Item("jsonl", name, line_no, None, len(raw), error=f"invalid UTF-8 at byte {exc.start}")
    if text.strip():
        return Item("jsonl", name, line_no, text, len(raw))
    # blank lines are not records; their bytes still count for progress
    return Item("skip", name, line_no, None, len(raw))


def read_jsonl(path: str) -> Iterator[Item]:
    """Items of a JSONL file, one per non-blank line (parsed later, in `score_chunk`)."""
    name = "<stdin>" if path == "-" else path
    for line_no, raw in _binary_lines(path):
        if raw:
            yield _jsonl_item(name, line_no, raw)


@dataclass(frozen=True)
class ByteRange:
    """Whole lines `start`..`end` (bytes) of a JSONL file, the first being line `first_line`.

    Handed to worker processes (or Dask workers) instead of the lines themselves: the worker reads and
    decodes them, so the parent only finds line boundaries and nothing per record crosses processes.
    """

    path: str
    start: int
    end: int
    first_line: int

    def items(self) -> list[Item]:
        """The items of these lines, exactly as `read_jsonl` yields them."""
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.end - self.start)
        lines = data.splitlines(keepends=True)
        return [_jsonl_item(self.path, self.first_line + i, raw) for i, raw in enumerate(lines)]


def jsonl_ranges(path: str, size: int = DEFAULT_CHUNK_RECORDS) -> Iterator[ByteRange]:
    """Split a JSONL file into ranges of at most `size` lines (or about `CHUNK_BYTES`)."""
    start = offset = lines = 0
    first_line = 1
    with open(path, "rb") as handle:
        for raw in handle:
            offset += len(raw)
            lines += 1
            if lines >= size or offset - start >= CHUNK_BYTES:
                yield ByteRange(path, start, offset, first_line)
                start, first_line, lines = offset, first_line + lines, 0
    if offset > start:
        yield ByteRange(path, start, offset, first_line)


def iter_work(inputs: list[tuple[str, str]], size: int = DEFAULT_CHUNK_RECORDS) -> Iterator[list[Item] | ByteRange]:
    """Work units for other processes: byte ranges of JSONL files, item chunks of anything else."""
    for path, fmt in inputs:
        if fmt == "jsonl" and path != "-":
            yield from jsonl_ranges(path, size)
        else:
            yield from iter_chunks(READERS[fmt](path), size)


def csv_header(path: str) -> list[str]:
    """The header row of a CSV file."""
    lines = (_decode(raw, no) for no, raw in _binary_lines(path))
    try:
        return next(csv.reader(lines, **csv_dialect(path)), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, 1, f"unreadable header: {exc}") from None


def read_csv(path: str) -> Iterator[Item]:
    """Items of a CSV file, one per data row (a row is a dict of the header's columns)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 27))
    state = {"line": 0, "bytes": 0, "bad": None}

    def lines() -> Iterator[str]:
        for line_no, raw in _binary_lines(path):
            state["line"], state["bytes"] = line_no, state["bytes"] + len(raw)
            try:
                yield _decode(raw, line_no)
            except UnicodeDecodeError as exc:
                state["bad"] = f"invalid UTF-8 at byte {exc.start}"
                yield "\n"

    reader = csv.reader(lines(), **csv_dialect(path))
    try:
        header = next(reader)
    except StopIteration:
        return
    width = len(header)
    while True:
        start = state["line"] + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Item("csv", path, start, None, _take_bytes(state), error=f"malformed CSV: {exc}")
            continue
        nbytes = _take_bytes(state)
        if state["bad"]:
            yield Item("csv", path, start, None, nbytes, error=state["bad"])
            state["bad"] = None
        elif not row:
            yield Item("skip", path, start, None, nbytes)
        elif len(row) != width:
            yield Item("csv", path, start, None, nbytes, error=f"expected {width} fields, got {len(row)}")
        else:
            yield Item("csv", path, start, dict(zip(header, row, strict=True)), nbytes)


def _take_bytes(state: dict) -> int:
    n, state["bytes"] = state["bytes"], 0
    return n


def iter_txt_files(path: str) -> Iterator[tuple[Path, str]]:
    """(file, name relative to the folder) of the .txt documents under `path`, sorted; or the file itself."""
    root = Path(path)
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.lower().endswith(".txt"):
                file = Path(dirpath) / filename
                yield file, file.relative_to(root).as_posix()


def read_txt(path: str) -> Iterator[Item]:
    """Items of a folder of .txt documents (or one .txt file): one per file, the whole text."""
    for file, name in iter_txt_files(path):
        try:
            data = file.read_bytes()
        except OSError as exc:
            yield Item("txt", str(file), None, None, 0, name=name, error=exc.strerror or str(exc))
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield Item("txt", str(file), None, None, len(data), name=name, error=f"invalid UTF-8 at byte {exc.start}")
            continue
        yield Item("txt", str(file), None, text, len(data), name=name)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "txt": read_txt}


def iter_items(inputs: list[tuple[str, str]]) -> Iterator[Item]:
    """All items of the checked inputs, in order."""
    for path, fmt in inputs:
        yield from READERS[fmt](path)


def input_size(inputs: list[tuple[str, str]]) -> int | None:
    """Total bytes of the inputs (for progress and ETA), or None when reading stdin."""
    total = 0
    for path, fmt in inputs:
        if path == "-":
            return None
        if fmt == "txt":
            total += sum(file.stat().st_size for file, _ in iter_txt_files(path))
        else:
            total += os.path.getsize(path)
    return total


def resolve_jobs(requested: int | None, inputs: list[tuple[str, str]]) -> int:
    """Processes to score with: `requested` if positive, one per usable CPU if 0, and by default (None)
    one per CPU for inputs read from files of `AUTO_PARALLEL_BYTES` or more, else one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if requested is None:
        size = input_size(inputs)
        return cpus if size is not None and size >= AUTO_PARALLEL_BYTES else 1
    return requested if requested > 0 else cpus


def iter_chunks(items: Iterable[Item], size: int = DEFAULT_CHUNK_RECORDS) -> Iterator[list[Item]]:
    """Group items into lists of at most `size` records (or about `CHUNK_BYTES` of input)."""
    chunk: list[Item] = []
    nbytes = 0
    for item in items:
        chunk.append(item)
        nbytes += item.nbytes
        if len(chunk) >= size or nbytes >= CHUNK_BYTES:
            yield chunk
            chunk, nbytes = [], 0
    if chunk:
        yield chunk


def peek_fields(items: Iterator[Item], text_field: str) -> tuple[tuple[str, ...], Iterator[Item]]:
    """Echoed field names for CSV output, from the first good item; returns them and the unconsumed stream."""
    seen: list[Item] = []
    fields: tuple[str, ...] = ()
    for item in items:
        seen.append(item)
        if item.error or item.kind == "skip":
            continue
        if item.kind == "txt":
            fields = ("source",)
            break
        if item.kind == "csv":
            fields = tuple(k for k in item.raw if k != text_field)
            break
        try:
            record = loads(item.raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            fields = tuple(k for k in record if k != text_field)
            break
    return fields, chain(seen, items)


# ---------------------------------------------------------------------------------------------- scoring


def parse_item(item: Item, text_field: str) -> dict:
    """The record of an item (text in `text_field`), or raise `InputError`."""
    if item.error:
        raise InputError(item.source, item.line, item.error)
    if item.kind == "jsonl":
        return parse_jsonl_record(item.raw, item.source, item.line, text_field)
    if item.kind == "csv":
        record = dict(item.raw)
        if not record.get(text_field, "").strip():
            raise InputError(item.source, item.line, f"column {text_field!r} is empty")
        return record
    if not item.raw.strip():
        raise InputError(item.source, None, "document is empty")
    return {"source": item.name, text_field: item.raw}


def score_chunk(predictor, items: list[Item] | ByteRange, options: ScoreOptions) -> ChunkResult:
    """Parse, score and format one chunk; bad items are returned as errors, in input order."""
    if isinstance(items, ByteRange):
        items = items.items()
    result = ChunkResult(text="", nbytes=sum(item.nbytes for item in items))
    groups: dict[str, list[tuple[int, dict, str]]] = {}
    outputs: list[str | None] = []
    for item in items:
        if item.kind == "skip":
            continue
        try:
            record = parse_item(item, options.text_field)
        except InputError as exc:
            result.errors.append(ItemError(exc.source, exc.line, exc.message))
            continue
        text = record.pop(options.text_field)
        mode = options.passages or ("always" if item.kind == "txt" else "auto")
        groups.setdefault(mode, []).append((len(outputs), record, text))
        outputs.append(None)
    for mode, group in groups.items():
        scored = predictor.predict_documents(
            [text for _, _, text in group], passages=mode, evidence_top_k=options.evidence
        )
        for (slot, record, _), res in zip(group, scored, strict=True):
            result.passages += len(res["passages"]) if "passages" in res else 1
            outputs[slot] = format_record(record, res, predictor, options)
    result.records = len(outputs)
    if options.output_format == "csv":
        result.text = csv_rows(outputs)
    else:
        result.text = "".join(outputs)
    return result


def output_record(record: dict, res: dict, predictor, options: ScoreOptions) -> dict:
    """The output fields of one scored record: echoed fields, labels, scores, alerts and (alert) passages of
    a segmented document, version."""
    out = {**record, "labels": res["labels"], "scores": res["scores"]}
    if "alerts" in res:
        out["alerts"] = res["alerts"]
    if "passages" in res:
        passages = res["passages"] if options.all_passages else [p for p in res["passages"] if p["labels"]]
        out["passages"] = passages
    out["model_version"] = predictor.version
    return out


def format_record(record: dict, res: dict, predictor, options: ScoreOptions):
    """One output line (JSONL) or row (a list of cells, CSV)."""
    out = output_record(record, res, predictor, options)
    if options.output_format != "csv":
        return dumps(out) + "\n"
    row = [_cell(record.get(name)) for name in _echo_fields(options.csv_fields)]
    row.append("|".join(out["labels"]))
    row.extend(repr(score) for score in out["scores"].values())
    row.append(dumps(out["passages"]) if "passages" in out else "")
    row.append(out["model_version"])
    return row


RESERVED = ("labels", "passages", "model_version")


def _echo_fields(fields: tuple[str, ...]) -> list[str]:
    """Echoed CSV columns: output columns take precedence over input fields of the same name."""
    return [name for name in fields if name not in RESERVED and not name.startswith("score_")]


def csv_header_row(fields: tuple[str, ...], labels: tuple[str, ...]) -> list[str]:
    """The header of CSV output."""
    return [*_echo_fields(fields), "labels", *(f"score_{label}" for label in labels), "passages", "model_version"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


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
