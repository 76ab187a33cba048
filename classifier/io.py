"""JSON reading and writing (one parser for every input), and atomic output files."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import orjson

# Deepest nesting of arrays and objects any JSON input may have: no record, request or label file
# needs more, and deeper input would exhaust the parsers' recursion (a RecursionError, not an error message).
MAX_JSON_DEPTH = 64


class NotJsonError(ValueError):
    """Text that parses but is refused: a JavaScript constant (NaN, Infinity), or nesting beyond the limit."""


class JSONTooDeepError(NotJsonError):
    """Arrays or objects nested deeper than `MAX_JSON_DEPTH`."""

    def __init__(self, max_depth: int):
        super().__init__(f"arrays or objects nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def _reject_constant(name: str):
    raise NotJsonError(f"{name} is not a JSON value")


def loads(raw: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """Parse one JSON text, as `json.loads` would but faster, refusing NaN and Infinity (not JSON) and
    nesting deeper than `max_depth` (`JSONTooDeepError`).

    This is the one JSON reading path of the CLIs, the training loaders and the service. orjson does
    the parsing. Where it would differ from the standard library, the standard library decides: text
    orjson refuses (the error then carries the standard library's message and column) and integers
    beyond 64 bits, which orjson would turn into floats.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            raise JSONTooDeepError(max_depth) from None
        _scan(value, max_depth, max_depth)
        return value
    if _scan(value, max_depth, max_depth):
        return json.loads(raw)
    return value


def _scan(value, depth_left: int, max_depth: int) -> bool:
    """Whether `value` holds a float outside the 64-bit integer range (where orjson parses big integers);
    raises `JSONTooDeepError` when arrays and objects nest deeper than `depth_left` more levels."""
    kind = type(value)
    if kind is float:
        return not -(2**63) <= value < 2**64
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    if depth_left < 1:
        raise JSONTooDeepError(max_depth)
    if _PLAIN.issuperset(map(type, value)):  # the common case: only strings, small integers and the like
        return False
    return any([_scan(item, depth_left - 1, max_depth) for item in value])  # all: each is depth-checked


_PLAIN = frozenset({str, int, bool, type(None)})


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
    try:
        return orjson.dumps(record).decode()
    except TypeError:
        # Integers beyond 64 bits or lone surrogates: the standard library writes them, with non-ASCII
        # characters escaped so that a lone surrogate cannot break the UTF-8 output.
        return json.dumps(record, separators=(",", ":"))
