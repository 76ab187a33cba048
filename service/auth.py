"""Bearer-token checks, compared in constant time, and who the caller is.

Tokens: HTA_ADMIN_TOKEN (the admin), HTA_PREDICT_TOKEN (predict-level reads) and, with HTA_ANALYSTS_FILE,
each named analyst's token (`service.analysts`). A request's caller is in `flask.g.caller` once its route's
check passed: the analyst, the admin token's "admin", or None (no token, or the predict token).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import current_app, g, request

from service.analysts import AnalystsFileError
from service.errors import APIError

ADMIN_NAME = "admin"  # the annotator recorded for labels posted with HTA_ADMIN_TOKEN


@dataclass(frozen=True)
class Caller:
    """Who sent the request: a name (the annotator of their labels) and a role."""

    name: str
    role: str  # "analyst", "adjudicator" or "admin"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _missing(realm: str) -> APIError:
    return APIError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": f'Bearer realm="{realm}"'})


def identify(token: str) -> Caller | None:
    """The admin or the analyst this token belongs to, or None. A malformed analysts file answers 503."""
    admin = current_app.config.get("ADMIN_TOKEN")
    if admin and _matches(token, admin):
        return Caller(ADMIN_NAME, "admin")
    registry = current_app.extensions.get("hta_analysts")
    if registry is None:
        return None
    try:
        analyst = registry.resolve(token)
    except AnalystsFileError as exc:
        raise APIError(503, "analysts_file_invalid", f"the analysts file cannot be used: {exc}") from None
    return None if analyst is None else Caller(analyst.name, analyst.role)


def current_caller() -> Caller | None:
    """The caller identified by this request's route check (None: anonymous or the predict token)."""
    return g.get("caller")


def _require_caller(realm: str, roles: tuple[str, ...], what: str) -> Caller:
    given = _bearer()
    if given is None:
        raise _missing(realm)
    caller = identify(given)
    if caller is None:
        raise APIError(403, "forbidden", "invalid token")
    if caller.role not in roles:
        raise APIError(403, "forbidden", f"analyst {caller.name!r} (role {caller.role}) may not {what}")
    g.caller = caller
    return caller


def require_admin() -> None:
    """401 without a bearer token, 403 with a wrong one or when neither an admin token nor analysts are configured."""
    if not current_app.config.get("ADMIN_TOKEN") and current_app.extensions.get("hta_analysts") is None:
        raise APIError(403, "admin_disabled", "admin routes are disabled: no HTA_ADMIN_TOKEN is configured")
    _require_caller("admin", ("admin",), "use admin routes")


def require_adjudicator() -> None:
    """Adjudication and agreement: an adjudicator's or admin's token (analyst or HTA_ADMIN_TOKEN)."""
    _require_caller("adjudicator", ("adjudicator", "admin"), "adjudicate (needs role adjudicator or admin)")


def require_labeller() -> None:
    """Labels (feedback, queue labels): any analyst's token or the admin's, unless HTA_LABELS_OPEN is set."""
    config = current_app.config
    if config.get("LABELS_OPEN"):
        if config.get("FEEDBACK_REQUIRES_ADMIN"):
            require_admin()
        else:
            require_client()
        return
    if config.get("FEEDBACK_REQUIRES_ADMIN"):
        require_admin()
        return
    if not config.get("ADMIN_TOKEN") and current_app.extensions.get("hta_analysts") is None:
        raise APIError(
            403,
            "labels_disabled",
            "labels need a token: configure HTA_ANALYSTS_FILE or HTA_ADMIN_TOKEN (or set HTA_LABELS_OPEN)",
        )
    _require_caller("labels", ("analyst", "adjudicator", "admin"), "label")


def require_client() -> None:
    """Predict-level routes: open unless HTA_PREDICT_TOKEN is set; the admin's and analysts' tokens are accepted too.
    A token given on an open route still identifies its analyst (the queue's leases need to know who asks)."""
    expected = current_app.config.get("PREDICT_TOKEN")
    given = _bearer()
    if given is not None:
        caller = identify(given)
        if caller is not None:
            g.caller = caller
            return
    if not expected:
        return
    if given is None:
        raise _missing("predict")
    if not _matches(given, expected):
        raise APIError(403, "forbidden", "invalid token")


def require(auth: str) -> None:
    """The check of a route's declared `auth`: "none", "client", "admin", "adjudicator", "feedback" (labels:
    see `require_labeller`), "queue-add" (as "client" when HTA_QUEUE_ADD_BY_CLIENT is set, else admin), or
    "label-studio" (HTTP Basic, checked by that blueprint's own `before_request`, in Label Studio's error shape)."""
    if auth in ("none", "label-studio"):
        return
    config = current_app.config
    if auth == "admin" or (auth == "queue-add" and not config.get("QUEUE_ADD_BY_CLIENT")):
        require_admin()
    elif auth == "adjudicator":
        require_adjudicator()
    elif auth == "feedback":
        require_labeller()
    elif auth in ("client", "queue-add"):
        require_client()
    else:
        raise ValueError(f"unknown auth level {auth!r}")
