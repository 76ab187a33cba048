"""Reading a request's JSON body within bounds: size (declared, chunked or not), time and nesting depth.

- A declared Content-Length over ``MAX_BODY_BYTES`` is refused (413) before the body is read; a body
  without a length (chunked) is read up to the limit and refused as soon as it passes it.
- Before a 413 the rest of the body is read and discarded, up to ``MAX_DRAIN_BYTES``, so a client that
  is still sending sees the answer instead of a reset connection; the response then closes the connection.
- A body that ends (or stalls past the server's read timeout) before its Content-Length is a 400.
- The JSON is parsed by `classifier.io.loads`: nesting deeper than `MAX_JSON_DEPTH` is a 400.
"""

from __future__ import annotations

import json
import time

from flask import current_app, request

from classifier.io import JSONTooDeepError, NotJsonError, loads
from service.errors import APIError

CHUNK_BYTES = 64 * 1024


def read_json(allow_empty: bool = False):
    """The parsed JSON body: 413 if too large, 415 if not JSON, 400 if malformed, incomplete or too deep."""
    raw = read_bytes()
    if allow_empty and not raw.strip():
        return {}
    if not request.is_json:
        raise APIError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        return loads(raw)
    except JSONTooDeepError as exc:
        raise APIError(400, "json_too_deep", f"the JSON body has {exc}") from None
    except json.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: the body is not valid UTF-8 ({exc.reason})") from None
    except NotJsonError as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None
    except ValueError as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None


def read_bytes() -> bytes:
    """The raw body, at most ``MAX_BODY_BYTES`` (413 above, whether or not a length was declared)."""
    config = current_app.config
    limit = config["MAX_BODY_BYTES"]
    stream = request.environ.get("wsgi.input")
    declared = request.content_length
    if stream is None or declared == 0:
        return b""
    if declared is not None and declared > limit:
        _drain(stream, config["MAX_DRAIN_BYTES"])
        raise too_large(limit, f"the declared Content-Length {declared} is over the limit of {limit} bytes")
    wanted = limit + 1 if declared is None else declared
    deadline = time.monotonic() + config["READ_TIMEOUT"]
    parts, got = [], 0
    while got < wanted:
        try:
            chunk = stream.read(min(CHUNK_BYTES, wanted - got))
        except OSError:  # the server's read deadline passed, or the client went away mid-read
            length = f"Content-Length {declared}" if declared is not None else "chunked"
            raise APIError(
                400,
                "incomplete_body",
                f"the request body ({length}) stopped before its end: closed, or not sent within the read timeout",
                {"Connection": "close"},
            ) from None
        except Exception as exc:  # the server's parser refused the body (a bad chunk size, ...)
            raise APIError(
                400, "invalid_body", f"the request body could not be read: {exc}", {"Connection": "close"}
            ) from None
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        if time.monotonic() > deadline and got < wanted:
            raise incomplete(declared, got, "was not received within the read timeout")
    if got > limit:
        _drain(stream, config["MAX_DRAIN_BYTES"])
        raise too_large(limit, f"the request body is over the limit of {limit} bytes")
    if declared is not None and got < declared:
        raise incomplete(declared, got, "ended before its Content-Length")
    return b"".join(parts)


def too_large(limit: int, message: str) -> APIError:
    """The 413 of an oversize body; the connection is closed after it (the rest of the body is not read)."""
    return APIError(413, "payload_too_large", message, {"Connection": "close"})


def incomplete(declared: int | None, got: int, why: str) -> APIError:
    """The 400 of a body that stopped short."""
    expected = f" ({got} of {declared} bytes)" if declared is not None else f" ({got} bytes)"
    return APIError(400, "incomplete_body", f"the request body {why}{expected}", {"Connection": "close"})


def _drain(stream, bound: int) -> None:
    """Read and discard up to `bound` bytes of the rest of the body (bounded in time by the server)."""
    deadline = time.monotonic() + current_app.config["READ_TIMEOUT"]
    left = bound
    while left > 0 and time.monotonic() < deadline:
        try:
            chunk = stream.read(min(CHUNK_BYTES, left))
        except Exception:  # the client stopped or sent garbage: the 413 stands
            return
        if not chunk:
            return
        left -= len(chunk)
