"""Bearer-token checks, compared in constant time."""

from __future__ import annotations

import hmac

from flask import current_app, request

from service.errors import APIError


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_admin() -> None:
    """401 without a bearer token, 403 with a wrong one or when no admin token is configured."""
    expected = current_app.config.get("ADMIN_TOKEN")
    if not expected:
        raise APIError(403, "admin_disabled", "admin routes are disabled: no HTA_ADMIN_TOKEN is configured")
    given = _bearer()
    if given is None:
        raise APIError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": 'Bearer realm="admin"'})
    if not _matches(given, expected):
        raise APIError(403, "forbidden", "invalid token")


def require_client() -> None:
    """Predict-level routes: open unless HTA_PREDICT_TOKEN is set; the admin token is accepted too."""
    expected = current_app.config.get("PREDICT_TOKEN")
    if not expected:
        return
    given = _bearer()
    if given is None:
        raise APIError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": 'Bearer realm="predict"'})
    admin = current_app.config.get("ADMIN_TOKEN")
    if not (_matches(given, expected) or (admin and _matches(given, admin))):
        raise APIError(403, "forbidden", "invalid token")


def require(auth: str) -> None:
    """The check of a route's declared `auth`: "none", "client", "admin", "feedback" (the admin token
    when HTA_FEEDBACK_REQUIRES_ADMIN is set, else as "client"), "queue-add" (as "client" when
    HTA_QUEUE_ADD_BY_CLIENT is set, else the admin token), or "label-studio" (HTTP Basic, checked by
    that blueprint's own `before_request`, in Label Studio's error shape)."""
    if auth in ("none", "label-studio"):
        return
    config = current_app.config
    if (
        auth == "admin"
        or (auth == "feedback" and config.get("FEEDBACK_REQUIRES_ADMIN"))
        or (auth == "queue-add" and not config.get("QUEUE_ADD_BY_CLIENT"))
    ):
        require_admin()
    elif auth in ("client", "feedback", "queue-add"):
        require_client()
    else:
        raise ValueError(f"unknown auth level {auth!r}")
