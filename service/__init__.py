"""The HTTP prediction service: Flask app factory `create_app`.

Configuration: defaults, then ``HTA_*`` environment variables, then the `config` mapping (tests).
Nothing is loaded at import time; `create_app` opens the store (SQLite, or PostgreSQL with
``HTA_DATABASE_URL``) and the model is loaded lazily on the first request that needs it (and again whenever
the current-version pointer changes).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping

from flask import Flask, g, request

from service.access_log import write_line

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(config: Mapping | None = None) -> Flask:
    """Build the Flask app."""
    from service import api, label_studio, metrics, ops, review, team
    from service.analysts import Registry
    from service.config import load_config
    from service.errors import register_error_handlers
    from service.model_cache import ModelCache
    from service.monitor import Monitor
    from service.shadow import Shadow
    from service.store import Store

    app = Flask(__name__)
    app.config.update(load_config(config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False
    from service.pointer import pointer_of

    store = Store.from_config(app.config).init()
    store.mark_interrupted()
    app.extensions["hta_store"] = store
    # Where the current version is recorded: CURRENT/HISTORY files (SQLite), or a database row (PostgreSQL)
    # that a listener thread keeps in memory, so predictions never wait for the database.
    pointer = pointer_of(store, app.config["MODELS_DIR"], poll_seconds=app.config["POINTER_POLL_SECONDS"])
    app.extensions["hta_pointer"] = pointer
    app.extensions["hta_models"] = ModelCache.from_config(app.config, None if store.kind == "sqlite" else pointer)
    app.extensions["hta_monitor"] = Monitor.from_config(app.config)
    app.extensions["hta_shadow"] = Shadow(app.config)
    if app.config["ANALYSTS_FILE"]:
        registry = Registry(app.config["ANALYSTS_FILE"])
        registry.analysts()  # a malformed file stops the app here, naming the line
        app.extensions["hta_analysts"] = registry

    _configure_logging(app)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(label_studio.bp)
    app.register_blueprint(team.bp)  # agreement, disagreements and adjudication, the label-error screen
    review.register(app)  # the review queue: /v1/queue routes and its table (service/review)
    try:
        from service import web
    except ModuleNotFoundError as exc:
        if exc.name != "service.web":
            raise
    else:
        app.register_blueprint(web.bp)

    metric_children: dict[tuple[str, str, str], tuple] = {}

    @app.before_request
    def _start():
        g.start = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex

    @app.after_request
    def _finish(response):
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        status = str(response.status_code)
        key = (route, request.method, status)
        children = metric_children.get(key)
        if children is None:  # prometheus' labels() lookup costs more than the update itself
            children = metric_children[key] = (metrics.REQUESTS.labels(*key), metrics.LATENCY.labels(*key))
        children[0].inc()
        children[1].observe(elapsed)
        if app.config["ACCESS_LOG"]:
            write_line(
                {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "request_id": request_id,
                    "remote": request.remote_addr,
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "bytes": response.calculate_content_length(),
                    "duration_ms": round(elapsed * 1000, 3),
                    "model_version": response.headers.get("X-Model-Version"),
                }
            )
        return response

    return app


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is now (gunicorn and pytest replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _configure_logging(app: Flask) -> None:
    service_log = logging.getLogger("service")
    if not service_log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(
            logging.Formatter(
                '{"ts": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": %(message_json)s}'
            )
        )
        handler.addFilter(_JSONMessage())
        service_log.addHandler(handler)
        service_log.setLevel(logging.INFO)


class _JSONMessage(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        record.message_json = json.dumps(message)
        return True
