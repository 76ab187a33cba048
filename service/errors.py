"""JSON errors, always: ``{"error": {"code": ..., "message": ...}}``, never an HTML page or a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("service")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    500: "internal_error",
    503: "model_unavailable",
    507: "insufficient_storage",
}

HTTP_MESSAGES = {
    404: "no such route",
    413: "request body too large",
}


class APIError(Exception):
    """An error answered as JSON with `status`, a stable `code` and a human `message`."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    from service.store import StorageError

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError):
        log.error(
            "storage failure answered %s %s: %r (%s)",
            exc.status,
            exc.code,
            exc.__cause__ or exc,
            getattr(exc.__cause__, "sqlite_errorname", None) or getattr(exc.__cause__, "errno", ""),
        )
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        if status == 405:
            allowed = sorted(m for m in (exc.valid_methods or []) if m not in {"HEAD", "OPTIONS"})
            message = f"method not allowed; use {', '.join(allowed)}" if allowed else "method not allowed"
        else:
            message = HTTP_MESSAGES.get(status) or (exc.description or exc.name)
        headers = {}
        if status == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        return error_response(status, code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
