"""Operations routes: /healthz, /readyz, /metrics, /openapi.json and the offline API docs at /docs."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from service import metrics
from service.contract import operation
from service.docs_page import render_docs
from service.errors import APIError
from service.model_cache import NoModel
from service.openapi import build_document
from service.schemas import Health, Ready

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@operation("The process is up", responses={200: Health})
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation("A model is loaded", responses={200: Ready}, errors=(503,))
def readyz():
    """Ready when a verified version is served: 200 with what is served and why (`fallback` true when the
    current version failed verification and an earlier one chosen by an operator or the gate serves;
    `waiting_for` a current version whose files this host cannot see yet), else 503 naming the reason.
    With PostgreSQL, `database` says whether it answers (``degraded`` when it does not: predictions go on)."""
    models = current_app.extensions["hta_models"]
    try:
        predictor = models.current()
    except NoModel as exc:
        raise APIError(503, "model_unavailable", f"no model loaded: {exc}") from None
    state = models.state()
    answer = {
        "status": "degraded" if state["fallback"] or state.get("waiting_for") else "ready",
        "model_version": predictor.version,
        "current_version": state["current"],
        "fallback": state["fallback"],
        "reason": state["reason"],
    }
    if state.get("waiting_for"):  # the pointer names a version whose files this host cannot see yet
        answer["waiting_for"] = state["waiting_for"]
    store = current_app.extensions["hta_store"]
    if store.kind != "sqlite":  # a database server comes and goes; the SQLite file is checked at start-up
        answer["database"] = store.ping()
        if answer["database"]["status"] != "ok":
            answer["status"] = "degraded"  # predictions go on; what needs the database answers 503
    return jsonify(answer)


@bp.get("/metrics")
@operation("Prometheus metrics", responses={200: None}, content_types={200: "text/plain"})
def metrics_page():
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(
        metrics.render(current_app),
        mimetype=CONTENT_TYPE_LATEST.split(";")[0],
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def served_document() -> dict:
    """The OpenAPI document of this app with the limits in force and the current labels."""
    from service.contract import current_labels, limits_context

    return build_document(current_app, limits_context(), current_labels())


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document, generated from the routes' contracts."""
    return jsonify(served_document())


@bp.get("/docs")
def docs():
    """The API reference as one offline HTML page, rendered from the same document."""
    return Response(render_docs(served_document()), mimetype="text/html")
