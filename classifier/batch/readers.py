"""Lazy readers of batch inputs (JSONL, CSV, folders of .txt documents) into `Item`s, and chunking.

- JSONL (``.jsonl``/``.ndjson``/``.json`` or ``-`` for stdin): one record per line, a text field, other
  fields echoed;
- CSV (``.csv``; ``.tsv`` with tabs): a header row, a text column, other columns echoed;
- a folder of ``.txt`` documents (searched recursively, sorted) or a ``.txt`` file: each file is one
  document, echoed as ``{"source": name}`` (the path relative to the folder; a file given by itself, as
  given).

Memory is bounded: no line (and no document) longer than `max_record_bytes` is ever held; such a
record becomes a bad `Item`. Parsing and validation (`parse_item`) happen later, in
`classifier.batch.scoring`, so they run in worker processes too. `read_records` reads and parses in one
go: it is how training data and selection pools are read.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from classifier.batch.held_inputs import FileIdentity, open_binary, read_range
from classifier.batch.items import Item
from classifier.io import loads
from classifier.records import RecordError, parse_jsonl_record, parse_object

DEFAULT_CHUNK_RECORDS = 2000
# A chunk is also closed at this many input bytes, so a folder of large documents stays bounded too.
CHUNK_BYTES = 8 << 20
# Longest line (JSONL, CSV) or document (.txt) read; longer ones are bad records (--max-record-bytes).
DEFAULT_MAX_RECORD_BYTES = 16 << 20
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv"}
INPUT_FORMATS = ("auto", "jsonl", "csv", "txt")


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


def check_inputs(
    paths: list[str],
    input_format: str,
    text_field: str | None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    columns: tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    """Check every input up front (exists; a CSV header has the text column and `columns`); returns
    [(path, format)].

    File-level problems are fatal whatever `--on-error` says: they are not bad lines.
    """
    checked = []
    for path in paths:
        fmt = detect_format(path, input_format)
        if path != "-" and not os.path.exists(path):
            raise RecordError(path, None, "no such file or directory")
        if path == "-" and fmt == "csv":
            raise RecordError(path, None, "stdin is read as JSONL or as one .txt document, not CSV")
        if fmt == "txt" and path != "-" and not Path(path).is_dir() and not Path(path).is_file():
            raise RecordError(path, None, "not a file or folder")
        if fmt in ("jsonl", "csv") and Path(path).is_dir():
            raise RecordError(path, None, f"is a folder, not a {fmt.upper()} file (folders hold .txt documents)")
        if fmt == "csv":
            header = csv_header(path, max_record_bytes)
            if not header:
                raise RecordError(path, 1, "empty CSV file: a header row is needed")
            for column in (text_field, *columns) if text_field else columns:
                if column not in header:
                    raise RecordError(path, 1, f"no column {column!r} in the header (columns: {', '.join(header)})")
        checked.append((path, fmt))
    return checked


def too_long(limit: int) -> str:
    """The message of a line over the length bound."""
    return f"line longer than {limit:,} bytes (the limit is set by --max-record-bytes)"


def bounded_lines(handle, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, raw line or None when longer than `limit` bytes, bytes) of a binary handle.

    A line over the bound is skipped in pieces, never held whole.
    """
    readline = handle.readline
    line_no = 0
    while True:
        raw = readline(limit + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield line_no, raw, len(raw)
            continue
        nbytes = len(raw)
        while True:
            rest = readline(1 << 20)
            nbytes += len(rest)
            if not rest or rest.endswith(b"\n"):
                break
        yield line_no, None, nbytes


def _binary_lines(path: str, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    if path == "-":
        yield from bounded_lines(sys.stdin.buffer, limit)
        return
    try:
        handle = open_binary(path)
    except OSError as exc:
        raise RecordError(path, None, exc.strerror or str(exc)) from None
    with handle:
        yield from bounded_lines(handle, limit)


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


def read_jsonl(path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Item]:
    """Items of a JSONL file, one per non-blank line (parsed later, in `score_chunk`)."""
    name = "<stdin>" if path == "-" else path
    for line_no, raw, nbytes in _binary_lines(path, max_record_bytes):
        if raw is None:
            yield Item("jsonl", name, line_no, None, nbytes, error=too_long(max_record_bytes))
        else:
            yield _jsonl_item(name, line_no, raw)


@dataclass(frozen=True)
class ByteRange:
    """Whole lines `start`..`end` (bytes) of a JSONL file, the first being line `first_line`.

    Handed to worker processes (or Dask workers) instead of the lines themselves: the worker reads and
    decodes them (from the held file, see `held_inputs`), so nothing per record crosses processes.
    """

    path: str
    start: int
    end: int
    first_line: int
    identity: FileIdentity | None = None

    def items(self) -> list[Item]:
        """The items of these lines, exactly as `read_jsonl` yields them."""
        data = read_range(self.path, self.start, self.end - self.start, self.identity)
        lines = data.splitlines(keepends=True)
        return [_jsonl_item(self.path, self.first_line + i, raw) for i, raw in enumerate(lines)]


def jsonl_ranges(
    path: str,
    size: int = DEFAULT_CHUNK_RECORDS,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    identity: FileIdentity | None = None,
) -> Iterator[ByteRange | list[Item]]:
    """Split a JSONL file into ranges of at most `size` lines (or about `CHUNK_BYTES`); a line over the
    bound is handed out as a one-item chunk of its error instead."""
    start = offset = lines = 0
    first_line = 1
    for line_no, raw, nbytes in _binary_lines(path, max_record_bytes):
        if raw is None:
            if offset > start:
                yield ByteRange(path, start, offset, first_line, identity)
            yield [Item("jsonl", path, line_no, None, nbytes, error=too_long(max_record_bytes))]
            offset += nbytes
            start, first_line, lines = offset, line_no + 1, 0
            continue
        offset += nbytes
        lines += 1
        if lines >= size or offset - start >= CHUNK_BYTES:
            yield ByteRange(path, start, offset, first_line, identity)
            start, first_line, lines = offset, line_no + 1, 0
    if offset > start:
        yield ByteRange(path, start, offset, first_line, identity)


def csv_header(path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> list[str]:
    """The header row of a CSV file."""
    for line_no, raw, _ in _binary_lines(path, max_record_bytes):
        if raw is None:
            raise RecordError(path, line_no, f"unreadable header: {too_long(max_record_bytes)}")
        try:
            return next(csv.reader([_decode(raw, line_no)], **csv_dialect(path)), [])
        except (UnicodeDecodeError, csv.Error) as exc:
            raise RecordError(path, 1, f"unreadable header: {exc}") from None
    return []


def read_csv(path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Item]:
    """Items of a CSV file, one per data row (a row is a dict of the header's columns)."""
    csv.field_size_limit(max_record_bytes)
    state = {"line": 0, "bytes": 0, "bad": None}

    def lines() -> Iterator[str]:
        for line_no, raw, nbytes in _binary_lines(path, max_record_bytes):
            state["line"], state["bytes"] = line_no, state["bytes"] + nbytes
            if raw is None:
                state["bad"] = too_long(max_record_bytes)
                yield "\n"
                continue
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
    """(file, echoed name) of the .txt documents under `path`, sorted (names relative to the folder);
    or the file itself, named as given."""
    root = Path(path)
    if root.is_file():
        yield root, path
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.lower().endswith(".txt"):
                file = Path(dirpath) / filename
                yield file, file.relative_to(root).as_posix()


def _document_item(source: str, name: str, data: bytes, limit: int) -> Item:
    if len(data) > limit:
        return Item("txt", source, None, None, len(data), name=name, error=f"document larger than {limit:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Item("txt", source, None, None, len(data), name=name, error=f"invalid UTF-8 at byte {exc.start}")
    return Item("txt", source, None, text, len(data), name=name)


def read_txt(path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Item]:
    """Items of a folder of .txt documents, a .txt file or stdin ("-"): one per document, the whole text."""
    if path == "-":
        yield _document_item("<stdin>", "<stdin>", sys.stdin.buffer.read(max_record_bytes + 1), max_record_bytes)
        return
    for file, name in iter_txt_files(path):
        try:
            with open_binary(str(file)) as handle:
                data = handle.read(max_record_bytes + 1)
        except OSError as exc:
            yield Item("txt", str(file), None, None, 0, name=name, error=exc.strerror or str(exc))
            continue
        yield _document_item(str(file), name, data, max_record_bytes)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "txt": read_txt}


def iter_items(inputs: list[tuple[str, str]], max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Item]:
    """All items of the checked inputs, in order."""
    for path, fmt in inputs:
        yield from READERS[fmt](path, max_record_bytes)


def parse_item(item: Item, text_field: str | None) -> dict:
    """The record of an item (non-empty text in `text_field`; None: any record), or raise `RecordError`."""
    if item.error:
        raise RecordError(item.path, item.line, item.error)
    if item.kind == "jsonl":
        if text_field is None:
            return parse_object(item.raw, item.path, item.line)
        return parse_jsonl_record(item.raw, item.path, item.line, text_field)
    if item.kind == "csv":
        record = dict(item.raw)
        if text_field is not None and not record.get(text_field, "").strip():
            raise RecordError(item.path, item.line, f"column {text_field!r} is empty")
        return record
    if not item.raw.strip():
        raise RecordError(item.path, None, "document is empty")
    return {"source": item.name, text_field or "text": item.raw}


def read_records(
    path: str,
    input_format: str = "auto",
    text_field: str | None = "text",
    columns: tuple[str, ...] = (),
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[tuple[int | None, dict]]:
    """(line, record) of every record of a JSONL or CSV file or a .txt document, parsed as `score` parses
    them; the first bad record raises `RecordError`. With `text_field` None a JSONL record need only be an
    object and a CSV row may have any text; a CSV header must hold `text_field` and `columns`."""
    ((path, fmt),) = check_inputs([path], input_format, text_field, max_record_bytes, columns)
    for item in READERS[fmt](path, max_record_bytes):
        if item.kind != "skip":
            yield item.line, parse_item(item, text_field)


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


def iter_work(
    inputs: list[tuple[str, str]],
    size: int = DEFAULT_CHUNK_RECORDS,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    identities: dict[str, FileIdentity] | None = None,
) -> Iterator[list[Item] | ByteRange]:
    """Work units for other processes: byte ranges of JSONL files, item chunks of anything else."""
    for path, fmt in inputs:
        if fmt == "jsonl" and path != "-":
            yield from jsonl_ranges(path, size, max_record_bytes, (identities or {}).get(path))
        else:
            yield from iter_chunks(READERS[fmt](path, max_record_bytes), size)


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
        except ValueError:  # includes JSONTooDeepError: the record is reported when it is scored
            continue
        if isinstance(record, dict):
            fields = tuple(k for k in record if k != text_field)
            break
    return fields, chain(seen, items)
