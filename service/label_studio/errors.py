"""Errors of the Label Studio routes, in the shape ML backends answer with.

The ML backend SDK (label-studio-ml-backend, ``label_studio_ml/exceptions.py``) answers a failed call with
``{"status": <HTTP status>, "detail": <message>}``; this service's other routes answer
``{"error": {"code", "message"}}``. These routes send both, so a client of either kind finds its fields:
``{"status": 400, "detail": "...", "error": {"code": "...", "message": "..."}}``.

Label Studio itself never reads an error body: for any status of 400 or more it shows requests' message
``"<status> Client Error: <reason> for url: <url>"`` (``ml/api_connector.py``), for example under
"Reason:" when a model is connected. So the reason phrase of the status line carries the message too
(printable ASCII, at most 200 characters), and the annotator sees *why* a config was refused.
"""

from __future__ import annotations

import re

from flask import Response, jsonify

MAX_REASON_CHARS = 200
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


class LabelStudioError(Exception):
    """An error answered in the ML backend's shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def reason_phrase(message: str) -> str:
    """`message` as an HTTP reason phrase: printable ASCII on one line, at most 200 characters."""
    text = " ".join(_NOT_PRINTABLE.sub("?", message).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """The JSON error body and a status line whose reason phrase is the message."""
    response = jsonify({"status": status, "detail": message, "error": {"code": code, "message": message}})
    reason = reason_phrase(message)
    response.status = f"{status} {reason}" if reason else str(status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
