"""The ML backend routes Label Studio calls, under ``/label-studio`` (connect the model at
``http://HOST:PORT/label-studio``).

- ``GET /health`` and ``GET /``: ``{"status": "UP", "model_class", "model_version", "labels"}``; 503 without a model.
- ``POST /setup``: checks the project's labelling config and answers ``{"model_version"}``.
- ``POST /predict``: one prediction per task, in task order: ``{"results": [{"result", "score",
  "model_version"}], "model_version"}``.
- ``POST /webhook``: annotation events become feedback rows (upserted by annotation id, removed on
  delete); START_TRAINING starts a retrain job through the one gated path (`start_retrain`) and answers at
  once; every other event is answered 200 and ignored.

Every answer of an error is ``{"status", "detail", "error": {"code", "message"}}`` (see `errors`).
"""

from __future__ import annotations

import logging
from typing import TypeVar

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from classifier.config import DEFAULT_LABELS
from classifier.io import loads
from service.body import read_bytes
from service.contract import operation
from service.errors import APIError
from service.label_studio.access import check_mode, require_label_studio
from service.label_studio.annotations import SOURCE, AnnotationError, feedback_item, task_text
from service.label_studio.errors import LabelStudioError, error_response
from service.label_studio.labelling_config import ChoicesTarget, LabelConfigError, parse_label_config
from service.label_studio.predictions import to_prediction
from service.label_studio.schemas import (
    AnnotationDeletedEvent,
    AnnotationEvent,
    AnnotationsCreatedEvent,
    AnnotationsDeletedEvent,
    HealthAnswer,
    PredictAnswer,
    SetupAnswer,
    SetupRequest,
    StartTrainingEvent,
    TasksRequest,
    WebhookAction,
    WebhookAnswer,
    describe,
)
from service.model_cache import NoModel
from service.retrain import start_retrain
from service.store import RetrainRunning

log = logging.getLogger("service.label_studio")
bp = Blueprint("label_studio", __name__, url_prefix="/label-studio")
Body = TypeVar("Body", bound=BaseModel)

MODEL_CLASS = "HybridThreatClassifier"  # what /health reports as "model_class"
# A labelling config for the examples of /docs.
EXAMPLE_CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="labels" toName="text" choice="multiple">'
    '<Choice value="sabotage_mention"/></Choices></View>'
)
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


@bp.record_once
def _check_settings(state) -> None:
    check_mode(state.app.config.get("LS_AUTH"))  # a bad HTA_LS_AUTH stops the app at start-up


@bp.before_request
def _authenticate() -> None:
    require_label_studio()


@bp.errorhandler(LabelStudioError)
def _label_studio_error(exc: LabelStudioError):
    if request.endpoint == "label_studio.webhook" and exc.status not in (401, 403):
        log.warning("Label Studio webhook refused (%s): %s", exc.status, exc.message)  # Label Studio ignores answers
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    message = "request body too large" if status == 413 else (exc.description or exc.name)
    return error_response(status, HTTP_CODES.get(status, "http_error"), message)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("unhandled error in a Label Studio route")
    return error_response(500, "internal_error", "internal server error")


def _json() -> dict:
    try:
        raw = read_bytes()  # the service's bounded body reading (413, incomplete or chunked bodies)
    except APIError as exc:
        raise LabelStudioError(exc.status, exc.code, exc.message, exc.headers) from None
    if not raw.strip():
        raise LabelStudioError(400, "invalid_json", "the request body is empty: send a JSON object")
    try:
        body = loads(raw)
    except ValueError as exc:
        raise LabelStudioError(400, "invalid_json", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise LabelStudioError(400, "invalid_request", "the JSON body must be an object")
    return body


def _validate(model: type[Body], body: dict) -> Body:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise LabelStudioError(400, "invalid_request", describe(exc)) from None


def _predictor():
    try:
        return current_app.extensions["hta_models"].current()
    except NoModel as exc:
        raise LabelStudioError(503, "model_unavailable", f"no model loaded: {exc}") from None


def _model_labels() -> tuple[str, ...]:
    try:
        return tuple(current_app.extensions["hta_models"].current().labels)
    except NoModel:
        return tuple(DEFAULT_LABELS)


def _target(config: str | None, labels: tuple[str, ...], where: str) -> ChoicesTarget:
    if config is None:
        raise LabelStudioError(400, "invalid_label_config", f"{where} is missing")
    try:
        return parse_label_config(config, labels)
    except LabelConfigError as exc:
        raise LabelStudioError(400, "invalid_label_config", str(exc)) from None


def _store():
    return current_app.extensions["hta_store"]


@bp.get("/")
@bp.get("/health")
@operation(
    "Label Studio: health check", responses={200: HealthAnswer}, errors=(401, 403, 503), auth="label-studio",
    tags=("label-studio",),
)  # fmt: skip
def health():
    """Liveness as Label Studio checks it (it waits 1 s): UP when a model is loaded."""
    predictor = _predictor()
    return jsonify(
        {
            "status": "UP",
            "model_class": MODEL_CLASS,
            "model_version": predictor.version,
            "labels": list(predictor.labels),
        }
    )


@bp.post("/setup")
@operation(
    "Label Studio: check a project's labelling config", body=SetupRequest, responses={200: SetupAnswer},
    errors=(400, 401, 403, 413, 503), auth="label-studio", validates=False, tags=("label-studio",),
    example={"project": "1.1764000000", "schema": EXAMPLE_CONFIG},
)  # fmt: skip
def setup():
    """Check that the project's labelling config fits the model; answer the model version."""
    body = _validate(SetupRequest, _json())
    predictor = _predictor()
    target = _target(body.label_schema, tuple(predictor.labels), "schema")
    return jsonify(
        {
            "model_version": predictor.version,
            "from_name": target.from_name,
            "to_name": target.to_name,
            "labels": list(target.labels),
        }
    )


@bp.post("/predict")
@operation(
    "Label Studio: pre-annotate tasks", body=TasksRequest, responses={200: PredictAnswer},
    errors=(400, 401, 403, 413, 503), auth="label-studio", validates=False, tags=("label-studio",),
    example={"tasks": [{"id": 1, "data": {"text": "Saboteurs cut the undersea cable."}}],
             "label_config": EXAMPLE_CONFIG},
)  # fmt: skip
def predict():
    """Pre-annotate tasks: one prediction per task, in task order, from one model version."""
    body = _validate(TasksRequest, _json())
    limit = current_app.config["MAX_BATCH"]
    if len(body.tasks) > limit:
        raise LabelStudioError(413, "batch_too_large", f"'tasks' has {len(body.tasks)} items; the limit is {limit}")
    predictor = _predictor()
    target = _target(body.label_config, tuple(predictor.labels), "label_config")
    max_chars = current_app.config["MAX_TEXT_CHARS"]
    texts = []
    for i, task in enumerate(body.tasks):
        where = f"task {task.id}" if task.id is not None else f"tasks[{i}]"
        try:
            texts.append(task_text(task.data, target.text_key, where, max_chars))
        except AnnotationError as exc:
            raise LabelStudioError(exc.status, exc.code, str(exc)) from None
    results = predictor.predict_documents(texts, passages="never", evidence_top_k=0)
    thresholds = predictor.thresholds
    predictions = [to_prediction(result, target, thresholds, predictor.version) for result in results]
    response = jsonify({"results": predictions, "model_version": predictor.version})
    response.headers["X-Model-Version"] = predictor.version
    return response


@bp.post("/webhook")
@operation(
    "Label Studio: annotation and training events", body=WebhookAction, responses={200: WebhookAnswer,
    202: WebhookAnswer}, errors=(400, 401, 403, 413, 503), auth="label-studio", validates=False,
    tags=("label-studio",), example={"action": "START_TRAINING", "project": {"id": 1}},
)  # fmt: skip
def webhook():
    """Label Studio's events: annotations become feedback, START_TRAINING starts a retrain job."""
    body = _json()
    action = _validate(WebhookAction, body).action
    handler = EVENTS.get(action)
    if handler is None:
        return jsonify({"status": "ignored", "action": action})
    return handler(body)


def _learnable(target: ChoicesTarget, project_id: int) -> str | None:
    """Why annotations of this project cannot train the model, or None when they can."""
    missing = [label for label in _model_labels() if label not in target.labels]
    if missing:
        return (
            f"project {project_id} offers only some of the model's labels (missing: {', '.join(missing)}); "
            f"its annotations say nothing about those labels, so they are not stored as feedback"
        )
    return None


def _skipped(action: str, reason: str):
    log.warning("Label Studio %s not stored: %s", action, reason)
    return jsonify({"status": "skipped", "action": action, "reason": reason})


def _feedback_items(project_id: int, pairs, target: ChoicesTarget) -> tuple[list[dict], list[int]]:
    """Feedback rows of the (annotation, task) pairs, and the ids of the cancelled (skipped) annotations."""
    max_chars = current_app.config["MAX_TEXT_CHARS"]
    items, cancelled = [], []
    for annotation, task in pairs:
        if annotation.was_cancelled:
            cancelled.append(annotation.id)
            continue
        try:
            items.append(feedback_item(project_id, annotation, task, target, max_chars))
        except AnnotationError as exc:
            raise LabelStudioError(exc.status, exc.code, str(exc)) from None
    return items, cancelled


def _save_annotations(action: str, project, pairs):
    target = _target(project.label_config, _model_labels(), "project.label_config")
    reason = _learnable(target, project.id)
    if reason:
        return _skipped(action, reason)
    items, cancelled = _feedback_items(project.id, pairs, target)
    store = _store()
    # A skipped (cancelled) annotation labels nothing: a row it had before (as a real annotation) goes.
    removed = [store.delete_feedback_ref(SOURCE, str(project.id), str(ref)) for ref in cancelled]
    ids = store.add_feedback(items) if items else []
    return jsonify(
        {
            "status": "stored",
            "action": action,
            "feedback_ids": ids,
            "annotations": [int(item["source_ref"]) for item in items],
            "cancelled": cancelled,
            "removed_feedback_ids": [i for i in removed if i is not None],
        }
    )


def _annotation_saved(body: dict):
    event = _validate(AnnotationEvent, body)
    return _save_annotations(event.action, event.project, [(event.annotation, event.task)])


def _annotations_created(body: dict):
    event = _validate(AnnotationsCreatedEvent, body)
    tasks = {task.id: task for task in event.task}
    pairs = []
    for annotation in event.annotation:
        task = tasks.get(annotation.task)
        if task is None:
            raise LabelStudioError(
                400, "invalid_request", f"annotation {annotation.id}: its task {annotation.task} is not in 'task'"
            )
        pairs.append((annotation, task))
    return _save_annotations(event.action, event.project, pairs)


def _delete(action: str, project_id: int, annotation_ids: list[int]):
    store = _store()
    deleted, not_found = [], []
    for annotation_id in annotation_ids:
        row = store.delete_feedback_ref(SOURCE, str(project_id), str(annotation_id))
        (deleted if row is not None else not_found).append(row if row is not None else annotation_id)
    return jsonify({"status": "deleted", "action": action, "feedback_ids": deleted, "not_found": not_found})


def _annotations_deleted(body: dict):
    event = _validate(AnnotationsDeletedEvent, body)
    return _delete(event.action, event.project.id, [ref.id for ref in event.annotations])


def _annotation_deleted(body: dict):
    event = _validate(AnnotationDeletedEvent, body)
    return _delete(event.action, event.project.id, [event.annotation.id])


def _start_training(body: dict):
    """Start a retrain job and answer at once; a job already running is reported, not an error."""
    event = _validate(StartTrainingEvent, body)
    project = event.project.id if event.project else None
    try:
        job = start_retrain(current_app.config, _store())
    except RetrainRunning as exc:
        log.info("Label Studio START_TRAINING (project %s): retrain job %s is already running", project, exc.job_id)
        return jsonify({"status": "already_running", "job": exc.job_id, "location": f"/v1/jobs/{exc.job_id}"})
    except OSError as exc:
        raise LabelStudioError(503, "retrain_unavailable", f"could not start a retrain job: {exc}") from None
    log.info("Label Studio START_TRAINING (project %s): started retrain job %s", project, job["id"])
    location = f"/v1/jobs/{job['id']}"
    return jsonify({"status": "started", "job": job["id"], "location": location}), 202, {"Location": location}


EVENTS = {
    "ANNOTATION_CREATED": _annotation_saved,
    "ANNOTATION_UPDATED": _annotation_saved,
    "ANNOTATIONS_CREATED": _annotations_created,
    "ANNOTATIONS_DELETED": _annotations_deleted,
    "ANNOTATION_DELETED": _annotation_deleted,
    "START_TRAINING": _start_training,
}
