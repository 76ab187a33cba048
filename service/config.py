"""Service configuration: the library's settings (`classifier.config.SETTINGS`: paths, the feedback weight)
plus the service's own keys below (its database, the retrain job's settings, the server, the limits), read
the same way: defaults, then ``HTA_<KEY>`` environment variables,
then the mapping given to `create_app` (tests).

To add a service setting, add ``"KEY": (default, type, help)`` to `SETTINGS`; it is then read from
``HTA_KEY`` and found in ``app.config["KEY"]``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from classifier.config import SETTINGS as LIBRARY_SETTINGS
from classifier.config import SettingError, read_settings

# Service settings renamed: old key -> new key (the old variable is still read, with a warning).
RENAMED = {"RECALL_MARGIN": "GATE_MARGIN", "RETRAIN_JOBS": "RETRAIN_PROCESSES"}

# key: (default, type, help)
SETTINGS: dict[str, tuple[object, type, str]] = {
    **LIBRARY_SETTINGS,
    "FEEDBACK_DB": (
        lambda s: s["HOME"] / "service.sqlite3",
        Path,
        "SQLite file of feedback, the queue and retrain jobs (when HTA_DATABASE_URL is unset)",
    ),
    "DATABASE_URL": (
        None,
        str,
        "the store: sqlite:///path/file.sqlite3 (one host) or postgresql://user:password@host:port/db (several "
        "hosts); unset = sqlite:// + HTA_FEEDBACK_DB",
    ),
    "DATABASE_POOL_SIZE": (8, int, "PostgreSQL: most connections each service process keeps open"),
    "DATABASE_TIMEOUT": (
        5.0,
        float,
        "PostgreSQL: seconds a request waits for a connection (or to connect) before answering 503",
    ),
    "INSTANCE": (
        None,
        str,
        "this instance's name in job records (unset = the host name); with PostgreSQL another instance's job "
        "is judged by its heartbeat",
    ),
    "JOB_HEARTBEAT_SECONDS": (
        30.0,
        float,
        "PostgreSQL: a running retrain job records a heartbeat every third of this; a job of another instance "
        "with none for this long is marked interrupted",
    ),
    "POINTER_POLL_SECONDS": (
        5.0,
        float,
        "PostgreSQL: besides listening for changes, each process re-reads the current-version row this often",
    ),
    "RETRAIN_DATA": (None, Path, "base training data of retrain jobs (default: the bundled corpus)"),
    "RETRAIN_CV": (5, int, "cross-validation folds of retrain jobs"),
    "RETRAIN_PROCESSES": (1, int, "parallel fold fits of retrain jobs (keep 1 so serving keeps a core)"),
    "RETRAIN_CROSSFIT_FOLDS": (
        3,
        int,
        "retrain gate: folds over the feedback documents whose cross-fitted predictions it judges (no feedback "
        "held out of the candidate); 0: hold a hashed quarter of the feedback documents out instead",
    ),
    "GATE_MARGIN": (
        0.02,
        float,
        "retrain gate: largest fall of base held-out macro-F1 a candidate may show beyond the paired bootstrap's "
        "noise (training.promotion); formerly HTA_RECALL_MARGIN",
    ),
    "GATE_SHADOW_RATE_JUMP": (
        2.0,
        float,
        'retrain gate with "shadow": N: refuse promotion when a label\'s alert rate in the shadow run exceeds the '
        "served version's by more than this many times (0: only record the comparison)",
    ),
    "RETRAIN_SHADOW_TIMEOUT": (3600.0, float, 'seconds a retrain with "shadow": N waits for its shadow run'),
    "HOST": ("127.0.0.1", str, "bind address of python -m service (also --host)"),
    "PORT": (8000, int, "port of python -m service (also --port)"),
    "WORKERS": (None, int, "gunicorn worker processes (also --workers); unset = 2 x CPU cores"),
    "TIMEOUT": (120, int, "gunicorn worker timeout, seconds (also --timeout)"),
    "ADMIN_TOKEN": (None, str, "bearer token of the admin routes; unset = admin routes refuse every call"),
    "PREDICT_TOKEN": (None, str, "bearer token required by predict/feedback/jobs/model reads; unset = open"),
    "ANALYSTS_FILE": (
        None,
        str,
        "named analysts: one 'NAME ROLE SHA256-of-token' line each (python -m service "
        "add-analyst); re-read when it changes; unset = no analysts",
    ),
    "LABELS_OPEN": (
        False,
        bool,
        "let feedback and queue labels through without an analyst's or the admin's token "
        "(the predict token when one is set): the single-user set-up",
    ),
    "FEEDBACK_REQUIRES_ADMIN": (False, bool, "require the admin token for POST /v1/feedback"),
    "MAX_BODY_BYTES": (2_000_000, int, "largest request body, bytes (413 above)"),
    "MAX_BATCH": (1000, int, "most texts, documents or feedback items per request (413 above)"),
    "MAX_TEXT_CHARS": (100_000, int, "longest text or document, characters (413 above)"),
    "MAX_FEEDBACK_TEXT_CHARS": (2_000, int, "longest feedback text, characters: one passage (413 above)"),
    "MAX_FEEDBACK_ITEMS": (100, int, "most feedback items per request (413 above)"),
    "MAX_DRAIN_BYTES": (10_000_000, int, "rest of an oversize body read and discarded before its 413, bytes"),
    "READ_TIMEOUT": (10.0, float, "seconds a client has to send a request's headers and body (400 after)"),
    "KEEPALIVE": (5, int, "seconds an idle keep-alive connection is kept open"),
    "THREADS": (32, int, "threads per gunicorn worker (connections being read or answered at once)"),
    "CONTROL_SOCKET": (None, str, "gunicorn control socket path (gunicornc); unset = none"),
    "MODEL_FALLBACK": (
        True,
        bool,
        "when the current version fails verification, serve the newest earlier version an operator or the "
        "gate made current (else the bundled default); false = answer 503 and refuse to start instead",
    ),
    "MODEL_RECHECK_SECONDS": (
        1.0,
        float,
        "how often each worker re-checks every file of the version it serves (a file damaged in place is "
        "refused within this); CURRENT and HISTORY are checked on every request; 0 = every file every request",
    ),
    "ACCESS_LOG": (True, bool, "write one JSON access-log line per request to stderr"),
    "LS_AUTH": ("basic", str, "Label Studio routes: basic (HTTP Basic) or none (loopback set-ups only)"),
    "LS_BASIC_AUTH_USER": (None, str, "HTTP Basic user Label Studio sends; unset = Label Studio routes answer 403"),
    "LS_BASIC_AUTH_PASS": (None, str, "HTTP Basic password Label Studio sends; unset = routes answer 403"),
    "QUEUE_MAX_ITEMS": (5000, int, "most pending passages in the review queue; the oldest are dropped first"),
    "QUEUE_ADD_BY_CLIENT": (False, bool, "let the predict token (or anyone, if none is set) add to the review queue"),
    "QUEUE_OVERLAP": (
        1,
        int,
        "distinct analysts each queue passage is offered to (and labelled by) before it leaves the pool",
    ),
    "QUEUE_LEASE_SECONDS": (
        600.0,
        float,
        "seconds a passage GET /v1/queue gave an analyst is held for them; an expired lease returns it to the pool",
    ),
    "QUEUE_CAPTURE": (False, bool, "queue the passages scored by POST /v1/predict for review (request text is kept)"),
    "QUEUE_CAPTURE_MAX_ITEMS": (1000, int, "most pending captured passages; the oldest are dropped first"),
    "QUEUE_CAPTURE_MAX_AGE_HOURS": (168.0, float, "captured passages not labelled are dropped after this many hours"),
    "SHADOW_FILE": (
        lambda s: s["HOME"] / "shadow.json",
        Path,
        "the shadow run (POST /v1/models/<version>/shadow); its figures are written beside it",
    ),
    "SHADOW_SHARE": (0.1, float, "share of predict requests a shadow run scores when its request names none"),
    "SHADOW_QUEUE": (64, int, "predict requests waiting for the shadow scorer; beyond, new ones are dropped, counted"),
    "MONITOR_MAX_SOURCES": (
        20,
        int,
        "distinct predict sources kept as a Prometheus label and in GET /v1/monitor (the first ones seen by any "
        "worker); later ones are counted as 'other', so clients cannot grow the metrics without bound",
    ),
    "MONITOR_WINDOW": (5000, int, "passages in the monitor's recent window (per worker ring; newest across workers)"),
    "MONITOR_MIN_PASSAGES": (200, int, "fewest passages of a window (all, or one source's) before it raises flags"),
    "MONITOR_PSI": (0.2, float, "population stability index at or above which a label's window is flagged drift"),
    "MONITOR_RATE_RATIO": (
        2.0,
        float,
        "live/expected alert-rate ratio at or above which (or at or below its inverse) a label's window is flagged",
    ),
}


def load_config(overrides: Mapping | None = None, environ: Mapping | None = None) -> dict:
    """The effective settings: defaults, then ``HTA_*`` variables of `environ`, then `overrides`."""
    result = read_settings(SETTINGS, overrides, environ, RENAMED)
    for key, value in (overrides or {}).items():
        result.setdefault(key, value)  # Flask settings such as TESTING pass through
    return result


def load_config_or_report() -> dict | None:
    """`load_config()` for a command line: None after printing ``error: ...`` on stderr when an ``HTA_*``
    variable is malformed (the command then exits 2)."""
    try:
        return load_config()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
