"""The access log: one JSON line per request on the process's standard error.

Written directly, not through `logging`: a logger call looks up its caller's frame and holds the
handler's lock while the line is written and flushed, which cost about 70 µs of a 750 µs predict
in-process (cProfile) and, under load, had request threads queue on that lock (py-spy). Here a line is
rendered by orjson and handed to `sys.stderr` in one `write` call (standard error is line-buffered, so
each line is flushed whole); `sys.stderr` is looked up at every call because gunicorn and pytest replace it.
"""

from __future__ import annotations

import sys

import orjson


def write_line(fields: dict) -> None:
    """Write `fields` as one JSON line to standard error."""
    sys.stderr.write(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE).decode())
