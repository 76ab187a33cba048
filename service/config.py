"""Service configuration: defaults, then `HTA_*` environment variables, then the mapping given to `create_app`.

Every key below can be set with an environment variable named ``HTA_<KEY>`` (e.g. ``HTA_ADMIN_TOKEN``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from classifier.config import PROJECT_ROOT

# key: (default, type, help)
SETTINGS: dict[str, tuple[object, type, str]] = {
    "MODELS_DIR": (None, Path, "models directory (default: HTA_MODELS_DIR of the library, else models/)"),
    "ADMIN_TOKEN": (None, str, "bearer token of the admin routes; unset = admin routes refuse every call"),
    "PREDICT_TOKEN": (None, str, "bearer token required by predict/feedback/jobs/model reads; unset = open"),
    "FEEDBACK_REQUIRES_ADMIN": (False, bool, "require the admin token for POST /v1/feedback"),
    "FEEDBACK_DB": (PROJECT_ROOT / "var" / "service.sqlite3", Path, "SQLite file for feedback and jobs"),
    "MAX_BODY_BYTES": (2_000_000, int, "largest request body, bytes (413 above)"),
    "MAX_BATCH": (1000, int, "most texts, documents or feedback items per request (413 above)"),
    "MAX_TEXT_CHARS": (100_000, int, "longest text or document, characters (413 above)"),
    "RECALL_MARGIN": (0.02, float, "retrain gate: largest allowed fall of any label's held-out recall"),
    "RETRAIN_DATA": (None, Path, "base training data of retrain jobs (default: the bundled corpus)"),
    "RETRAIN_CV": (5, int, "cross-validation folds of retrain jobs"),
    "RETRAIN_JOBS": (1, int, "parallel fold fits of retrain jobs (keep 1 so serving keeps a core)"),
    "ACCESS_LOG": (True, bool, "write one JSON access-log line per request to stderr"),
    "QUEUE_MAX_ITEMS": (5000, int, "most pending passages in the review queue; the oldest are dropped first"),
    "QUEUE_ADD_BY_CLIENT": (False, bool, "let the predict token (or anyone, if none is set) add to the review queue"),
    "QUEUE_CAPTURE": (False, bool, "queue the passages scored by POST /v1/predict for review (request text is kept)"),
    "QUEUE_CAPTURE_MAX_ITEMS": (1000, int, "most pending captured passages; the oldest are dropped first"),
    "QUEUE_CAPTURE_MAX_AGE_HOURS": (168.0, float, "captured passages not labelled are dropped after this many hours"),
}

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def _coerce(key: str, value, kind: type):
    if value is None or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    if kind is bool:
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError(f"HTA_{key}: expected true/false, got {value!r}")
    if kind in (str, Path) and str(value) == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"HTA_{key}: expected {kind.__name__}, got {value!r}") from None


def load_config(overrides: Mapping | None = None, environ: Mapping | None = None) -> dict:
    """The effective settings: defaults, then ``HTA_*`` variables of `environ`, then `overrides`."""
    environ = os.environ if environ is None else environ
    result = {}
    for key, (default, kind, _help) in SETTINGS.items():
        value = default
        if f"HTA_{key}" in environ:
            value = environ[f"HTA_{key}"]
        if overrides and key in overrides:
            value = overrides[key]
        result[key] = _coerce(key, value, kind)
    if result["MODELS_DIR"] is None:
        from classifier.config import models_dir

        result["MODELS_DIR"] = models_dir()
    for key, value in (overrides or {}).items():
        result.setdefault(key, value)  # Flask settings such as TESTING pass through
    return result
