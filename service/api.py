"""The /v1 API: predict, model and versions, activation (rollback), feedback, retrain and jobs."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request, url_for

from classifier.artifacts import (
    ArtifactError,
    check_version_name,
    current_version,
    list_versions,
    read_manifest,
    set_current,
)
from classifier.config import DEFAULT_LABELS
from service import metrics, review
from service.auth import require_admin, require_client
from service.errors import APIError
from service.model_store import NoModel
from service.retrain import start_retrain
from service.store import RetrainRunning

bp = Blueprint("api", __name__, url_prefix="/v1")

DEFAULT_EVIDENCE_K = 5
MAX_EVIDENCE_K = 50


def json_body(allow_empty: bool = False):
    """The parsed JSON body: 415 if not JSON, 413 if too large, 400 if malformed."""
    raw = request.get_data(cache=True)  # raises 413 over MAX_CONTENT_LENGTH
    if allow_empty and not raw.strip():
        return {}
    if not request.is_json:
        raise APIError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise APIError(400, "invalid_request", "the JSON body must be an object")
    return body


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise APIError(400, "invalid_request", f"{where} must be a string")
    if not value.strip():
        raise APIError(400, "empty_text", f"{where} is empty")
    limit = current_app.config["MAX_TEXT_CHARS"]
    if len(value) > limit:
        raise APIError(413, "text_too_long", f"{where} has {len(value)} characters; the limit is {limit}")
    return value


def _batch(value, where: str) -> list:
    if not isinstance(value, list):
        raise APIError(400, "invalid_request", f"'{where}' must be a list")
    if not value:
        raise APIError(400, "invalid_request", f"'{where}' is empty")
    limit = current_app.config["MAX_BATCH"]
    if len(value) > limit:
        raise APIError(413, "batch_too_large", f"'{where}' has {len(value)} items; the limit is {limit}")
    return value


def _evidence_k(value) -> int:
    if value is None or value is False:
        return 0
    if value is True:
        return DEFAULT_EVIDENCE_K
    if isinstance(value, int) and 0 <= value <= MAX_EVIDENCE_K:
        return value
    raise APIError(400, "invalid_request", f"'evidence' must be true, false or an integer 0..{MAX_EVIDENCE_K}")


def _passages_option(value, default: str) -> str:
    if value is None:
        return default
    if value is True:
        return "always"
    if value is False:
        return "never"
    if value in ("always", "auto", "never"):
        return value
    raise APIError(400, "invalid_request", '\'passages\' must be true, false, "auto", "always" or "never"')


def _predictor():
    try:
        return current_app.extensions["hta_models"].current()
    except NoModel as exc:
        raise APIError(503, "model_unavailable", f"no model loaded: {exc}") from None


def _count(results: list[dict], passages: int) -> None:
    metrics.PASSAGES.inc(passages)
    for result in results:
        for label in result["labels"]:
            metrics.ALERTS.labels(label).inc()


@bp.post("/predict")
def predict():
    require_client()
    body = _object(json_body())
    given = [key for key in ("text", "texts", "documents") if key in body]
    if len(given) != 1:
        raise APIError(400, "invalid_request", "give exactly one of 'text', 'texts' or 'documents'")
    unknown = sorted(set(body) - {"text", "texts", "documents", "passages", "evidence"})
    if unknown:
        raise APIError(400, "invalid_request", f"unknown field(s): {', '.join(unknown)}")
    kind = given[0]
    top_k = _evidence_k(body.get("evidence"))
    if kind == "documents":
        docs = _batch(body["documents"], "documents")
        ids, texts = [], []
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise APIError(400, "invalid_request", f"documents[{i}] must be an object with 'text'")
            doc_id = doc.get("id")
            if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, str | int)):
                raise APIError(400, "invalid_request", f"documents[{i}].id must be a string or integer")
            ids.append(doc_id)
            texts.append(_text(doc.get("text"), f"documents[{i}].text"))
        mode = _passages_option(body.get("passages"), "always")
    else:
        values = [body["text"]] if kind == "text" else _batch(body["texts"], "texts")
        where = "'text'" if kind == "text" else "texts[{}]"
        texts = [_text(v, where.format(i)) for i, v in enumerate(values)]
        ids = None
        mode = _passages_option(body.get("passages"), "never")

    predictor = _predictor()  # taken once: the whole response comes from this version
    if ids is not None or mode != "never":
        results = predictor.predict_documents(texts, passages=mode, evidence_top_k=top_k)
        n_passages = sum(len(r.get("passages", ())) or 1 for r in results)
        if ids is not None:
            results = [{"id": doc_id, **result} for doc_id, result in zip(ids, results, strict=True)]
    else:
        results = predictor.predict_texts(texts, evidence_top_k=top_k)
        n_passages = len(results)
    _count(results, n_passages)
    review.capture_predictions(texts, ids, results, predictor)  # review-queue capture, off by default (service/review)
    response = jsonify({"model_version": predictor.version, "results": results})
    response.headers["X-Model-Version"] = predictor.version
    return response


def _summary(manifest: dict) -> dict:
    holdout = (manifest.get("metrics") or {}).get("holdout") or {}
    return {
        "version": manifest.get("version"),
        "created": manifest.get("created"),
        "labels": manifest.get("labels"),
        "macro_f1": (holdout.get("macro") or {}).get("f1"),
        "training_rows": (manifest.get("training_data") or {}).get("rows"),
    }


@bp.get("/model")
def model():
    require_client()
    predictor = _predictor()
    manifest = predictor.manifest
    response = jsonify(
        {
            "version": predictor.version,
            "created": manifest.get("created"),
            "labels": list(predictor.labels),
            "thresholds": predictor.thresholds,
            "metrics": manifest.get("metrics"),
            "training_data": manifest.get("training_data"),
            "params": manifest.get("params"),
        }
    )
    response.headers["X-Model-Version"] = predictor.version
    return response


@bp.get("/models")
def models():
    require_client()
    models_dir = current_app.config["MODELS_DIR"]
    try:
        current = current_version(models_dir)
    except ArtifactError:
        current = None
    versions = []
    for name in list_versions(models_dir):
        try:
            summary = _summary(read_manifest(models_dir / name))
        except ArtifactError:
            continue
        versions.append({**summary, "version": name, "current": name == current})
    return jsonify({"current": current, "versions": versions})


@bp.post("/models/<version>/activate")
def activate(version: str):
    require_admin()
    models_dir = current_app.config["MODELS_DIR"]
    try:
        check_version_name(version)
    except ArtifactError:
        raise APIError(404, "not_found", f"model version {version!r} not found") from None
    if version not in list_versions(models_dir):
        raise APIError(404, "not_found", f"model version {version!r} not found")
    previous = current_version(models_dir)
    try:
        set_current(models_dir, version)
    except ArtifactError as exc:
        raise APIError(409, "invalid_model", f"model version {version!r} cannot be loaded: {exc}") from None
    current_app.logger.info("model %s activated (was %s)", version, previous)
    predictor = _predictor()
    return jsonify({"current": version, "previous": previous, "serving": predictor.version})


def _feedback_item(item, where: str, labels: set[str]) -> dict:
    if not isinstance(item, dict):
        raise APIError(400, "invalid_request", f"{where} must be an object")
    unknown = sorted(set(item) - {"text", "labels", "document_id", "model_version"})
    if unknown:
        raise APIError(400, "invalid_request", f"{where}: unknown field(s): {', '.join(unknown)}")
    text = _text(item.get("text"), f"{where}.text")
    given = item.get("labels")
    if not isinstance(given, list) or not all(isinstance(label, str) for label in given):
        raise APIError(400, "invalid_request", f"{where}.labels must be a list of label names")
    bad = [label for label in given if label not in labels]
    if bad:
        raise APIError(
            400,
            "unknown_label",
            f"{where}: unknown label(s) {', '.join(map(repr, bad))}; known: {', '.join(sorted(labels))}",
        )
    doc_id = item.get("document_id")
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, str | int)):
        raise APIError(400, "invalid_request", f"{where}.document_id must be a string or integer")
    version = item.get("model_version")
    if version is not None and not isinstance(version, str):
        raise APIError(400, "invalid_request", f"{where}.model_version must be a string")
    return {
        "text": text,
        "labels": sorted(set(given)),
        "document_id": None if doc_id is None else str(doc_id),
        "model_version": version,
    }


@bp.post("/feedback")
def feedback():
    if current_app.config.get("FEEDBACK_REQUIRES_ADMIN"):
        require_admin()
    else:
        require_client()
    body = _object(json_body())
    try:
        labels = set(current_app.extensions["hta_models"].current().labels)
    except NoModel:
        labels = set(DEFAULT_LABELS)
    if "items" in body:
        if set(body) != {"items"}:
            raise APIError(400, "invalid_request", "give either 'items' or one item, not both")
        raw = _batch(body["items"], "items")
        items = [_feedback_item(item, f"items[{i}]", labels) for i, item in enumerate(raw)]
    else:
        items = [_feedback_item(body, "feedback", labels)]
    ids = current_app.extensions["hta_store"].add_feedback(items)
    return jsonify({"stored": len(ids), "ids": ids}), 201


@bp.post("/retrain")
def retrain():
    require_admin()
    body = json_body(allow_empty=True)
    if body not in ({}, None):
        raise APIError(
            400, "invalid_request", "retrain takes no parameters: the training data is configured on the server"
        )
    try:
        job = start_retrain(current_app.config, current_app.extensions["hta_store"])
    except RetrainRunning as exc:
        raise APIError(409, "retrain_running", f"retrain job {exc.job_id} is already running") from None
    location = url_for("api.job", job_id=job["id"])
    return jsonify({"job": job, "location": location}), 202, {"Location": location}


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    require_client()
    store = current_app.extensions["hta_store"]
    store.mark_interrupted()
    found = store.get_job(job_id)
    if found is None:
        raise APIError(404, "not_found", f"job {job_id!r} not found")
    return jsonify(found)
