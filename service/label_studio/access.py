"""Who may call the Label Studio routes: HTTP Basic, as Label Studio sends it to an ML backend.

Label Studio sends ``Authorization: Basic`` with the user name and password entered when the model was
connected ("Basic Authentication" in the project's Model settings; ``basic_auth_user`` /
``basic_auth_pass`` of ``POST /api/ml``). ``HTA_LS_AUTH`` chooses:

- ``basic`` (default): both ``HTA_LS_BASIC_AUTH_USER`` and ``HTA_LS_BASIC_AUTH_PASS`` must be set, or every
  route answers 403 (like the admin routes without ``HTA_ADMIN_TOKEN``); a request without them or with
  wrong ones gets 401 and ``WWW-Authenticate: Basic`` (Label Studio then says the authentication
  parameters are missing or wrong).
- ``none``: no check, for a Label Studio on the same loopback-only machine.

Both the user name and the password are compared in constant time, and both always are, so the time
taken does not tell which one was wrong.
"""

from __future__ import annotations

import hmac

from flask import current_app, request

from service.label_studio.errors import LabelStudioError

MODES = ("basic", "none")


def check_mode(value: object) -> str:
    """The validated ``HTA_LS_AUTH`` value (ValueError names the setting)."""
    mode = str(value or "basic").strip().lower()
    if mode not in MODES:
        raise ValueError(f"HTA_LS_AUTH: expected one of {', '.join(MODES)}, got {value!r}")
    return mode


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_label_studio() -> None:
    """Raise `LabelStudioError` (401/403) unless the request may use the Label Studio routes."""
    config = current_app.config
    if check_mode(config.get("LS_AUTH")) == "none":
        return
    user, password = config.get("LS_BASIC_AUTH_USER"), config.get("LS_BASIC_AUTH_PASS")
    if not user or not password:
        raise LabelStudioError(
            403,
            "label_studio_disabled",
            "the Label Studio routes are disabled: set HTA_LS_BASIC_AUTH_USER and HTA_LS_BASIC_AUTH_PASS "
            "(or HTA_LS_AUTH=none when Label Studio runs on this machine only)",
        )
    given = request.authorization
    challenge = {"WWW-Authenticate": 'Basic realm="label-studio"'}
    if given is None or given.type != "basic":
        raise LabelStudioError(401, "unauthorized", "missing HTTP Basic credentials", challenge)
    user_ok = _same(given.username or "", user)
    password_ok = _same(given.password or "", password)
    if not (user_ok and password_ok):
        raise LabelStudioError(401, "unauthorized", "wrong HTTP Basic user name or password", challenge)
