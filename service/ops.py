"""Operations routes: /healthz, /readyz, /metrics, /openapi.json and the offline API docs at /docs."""

from __future__ import annotations

import json
from html import escape

from flask import Blueprint, Response, current_app, jsonify

from service import metrics
from service.errors import APIError
from service.model_store import NoModel
from service.openapi import openapi_document

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready when a verified version is served: 200 with what is served and why (`fallback` true when the
    current version failed verification and an earlier one chosen by an operator or the gate serves), else
    503 naming the reason."""
    models = current_app.extensions["hta_models"]
    try:
        predictor = models.current()
    except NoModel as exc:
        raise APIError(503, "model_unavailable", f"no model loaded: {exc}") from None
    state = models.state()
    return jsonify(
        {
            "status": "degraded" if state["fallback"] else "ready",
            "model_version": predictor.version,
            "current_version": state["current"],
            "fallback": state["fallback"],
            "reason": state["reason"],
        }
    )


@bp.get("/metrics")
def metrics_page():
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(
        metrics.render(current_app),
        mimetype=CONTENT_TYPE_LATEST.split(";")[0],
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi_document())


STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2rem;border-bottom:1px solid #ddd}.op{margin:1rem 0;padding:.5rem 1rem;border:1px solid #ddd;
border-radius:6px}.m{font-weight:bold;font-family:monospace;padding:.1rem .4rem;border-radius:3px;color:#fff}
.get{background:#2a7}.post{background:#27a}code,pre{font-family:monospace;background:#f5f5f5}
pre{padding:.5rem;overflow:auto;font-size:13px}"""


def _schema_html(schema: dict | None) -> str:
    if not schema:
        return ""
    return f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"


@bp.get("/docs")
def docs():
    doc = openapi_document()
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(doc['info']['title'])} API"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(doc['info']['title'])} API</h1>"
        f"<p>{escape(doc['info']['description'])}</p><p>Machine-readable: <a href=/openapi.json>/openapi.json"
        "</a>. Admin routes need <code>Authorization: Bearer $HTA_ADMIN_TOKEN</code>.</p><h2>Endpoints</h2>"
    ]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            statuses = ", ".join(f"<code>{escape(s)}</code>" for s in op.get("responses", {}))
            admin = " (admin)" if op.get("security") == [{"bearer": []}] else ""
            parts.append(
                f"<div class=op id='{escape(method + path)}'><p><span class='m {method}'>{method.upper()}</span> "
                f"<code>{escape(path)}</code> — {escape(op.get('summary', ''))}{admin}</p>"
                + (f"<p>{escape(op['description'])}</p>" if op.get("description") else "")
                + (f"<details><summary>Request body</summary>{_schema_html(body)}</details>" if body else "")
                + f"<p>Responses: {statuses}</p></div>"
            )
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        parts.append(
            f"<details id='schema-{escape(name)}'><summary>{escape(name)}</summary>{_schema_html(schema)}</details>"
        )
    parts.append("</body></html>")
    return Response("".join(parts), mimetype="text/html")
