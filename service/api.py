"""The /v1 API: predict, model and versions, activation (rollback), feedback, retrain and jobs.

Each route's bodies, query, answers and errors are declared once with `service.contract.operation`
(models in `service.schemas`); the decorator checks the route's token and validates the request first.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, jsonify, url_for

from classifier.artifacts import ArtifactError, check_version_name, read_manifest
from classifier.versions import find_version, list_versions
from service import metrics, review
from service.auth import current_caller
from service.contract import operation
from service.errors import APIError
from service.model_cache import NoModel
from service.retrain import start_retrain
from service.schemas import (
    Activated,
    FeedbackDeleted,
    FeedbackPage,
    FeedbackQuery,
    FeedbackRequest,
    FeedbackStored,
    Job,
    ModelInfo,
    ModelList,
    MonitorReport,
    PredictRequest,
    PredictResponse,
    RetrainRequest,
    RetrainStarted,
    ShadowReport,
    ShadowRequest,
    ShadowStarted,
    fast_predict_request,
)
from service.shadow import ShadowRunning
from service.store import RetrainRunning

bp = Blueprint("api", __name__, url_prefix="/v1")

DEFAULT_EVIDENCE_K = 5


def _evidence_k(value: bool | int | None) -> int:
    """Evidence terms per flagged label (the option is validated by the schema)."""
    if value is None or value is False:
        return 0
    if value is True:
        return DEFAULT_EVIDENCE_K
    return value


def _passages_option(value: bool | str | None, default: str) -> str:
    """The predictor's passages mode (the option is validated by the schema)."""
    if value is None:
        return default
    if value is True:
        return "always"
    if value is False:
        return "never"
    return value


def _predictor():
    try:
        return current_app.extensions["hta_models"].current()
    except NoModel as exc:
        raise APIError(503, "model_unavailable", f"no model loaded: {exc}") from None


_ALERT_COUNTERS: dict = {}


def _count(results, passages: int) -> None:
    metrics.PASSAGES.inc(passages)
    for result in results:
        for label in result.labels:
            counter = _ALERT_COUNTERS.get(label)
            if counter is None:  # prometheus' labels() lookup costs more than the increment
                counter = _ALERT_COUNTERS[label] = metrics.ALERTS.labels(label)
            counter.inc()
        if result.coverage.unsupported:
            for language, count in result.unsupported_by_language().items():
                metrics.UNSUPPORTED.labels(language).inc(count)


PREDICT_EXAMPLE = {"documents": [{"id": "d1", "text": "Saboteurs cut the undersea cable. We stand with Ukraine."}]}


@bp.post("/predict")
@operation(
    "Score texts or documents",
    description="Answers the version that scored the request in model_version and in the X-Model-Version "
    "header. A text is scored as one passage when it has one, and segmented into passages when it is longer "
    '(passages "auto"); documents always list their passages.',
    body=PredictRequest,
    responses={200: PredictResponse},
    errors=(400, 401, 403, 413, 415, 503),
    auth="client",
    example=PREDICT_EXAMPLE,
    fast_body=fast_predict_request,
)
def predict(body: PredictRequest):
    """Score the texts or documents of the request with the current model."""
    top_k = _evidence_k(body.evidence)
    if body.documents is not None:
        ids = [doc.id for doc in body.documents]
        texts = [doc.text for doc in body.documents]
        sources = [doc.source if doc.source is not None else body.source for doc in body.documents]
        mode = _passages_option(body.passages, "always")
    else:
        texts = [body.text] if body.text is not None else body.texts
        ids = None
        sources = [body.source] * len(texts)
        mode = _passages_option(body.passages, "auto")

    predictor = _predictor()  # taken once: the whole response comes from this version
    # One meaning of every passage mode for texts, documents, the CLI and batch: "never" only leaves the
    # passages out of the answer; the text is segmented and scored as with "always".
    named = any(source is not None for source in sources)
    observed: list = []  # every passage's scores and decisions, for the monitor (counted off the request)
    scored = predictor.score_documents(
        texts, mode, evidence_top_k=top_k, source=sources if named else None, observed=observed
    )
    n_passages = sum(result.passage_count for result in scored)
    results = [result.to_json() for result in scored]
    if named:  # echoed where the request named one
        results = [
            result if source is None else {"source": source, **result}
            for source, result in zip(sources, results, strict=True)
        ]
    if ids is not None:
        results = [{"id": doc_id, **result} for doc_id, result in zip(ids, results, strict=True)]
    _count(scored, n_passages)
    current_app.extensions["hta_monitor"].record(predictor, observed[0])
    current_app.extensions["hta_shadow"].offer(predictor, texts, sources if named else None, observed[0])
    review.capture_predictions(texts, ids, results, predictor)  # review-queue capture, off by default (service/review)
    response = _json({"model_version": predictor.version, "results": results})
    response.headers["X-Model-Version"] = predictor.version
    return response


@bp.get("/monitor")
@operation(
    "Alert rates and drift of the recent window, per source and label",
    description="The newest HTA_MONITOR_WINDOW passages scored by the version served (every worker's), per "
    "source (all, each source kept, other, unnamed) and label: the window's alert rate, the version's "
    "expected rate on its held-out rows, their ratio, the population stability index of the scores, and the "
    "flags raised (with the threshold that raised each) once a window has HTA_MONITOR_MIN_PASSAGES passages.",
    responses={200: MonitorReport},
    errors=(401, 403, 503),
    auth="client",
)
def monitor():
    """The monitor's report on the version being served."""
    predictor = _predictor()
    response = jsonify(current_app.extensions["hta_monitor"].report(predictor))
    response.headers["X-Model-Version"] = predictor.version
    return response


def _json(payload: dict) -> Response:
    """`payload` as a JSON response rendered by orjson (several times faster than the standard library on
    a result's floats); `jsonify` for what orjson cannot render (an integer id beyond 64 bits)."""
    try:
        data = orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return jsonify(payload)
    return Response(data, mimetype="application/json")


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
@operation("The current model: version, labels, thresholds, metrics", responses={200: ModelInfo},
           errors=(401, 403, 503), auth="client")  # fmt: skip
def model():
    """The manifest summary of the model being served."""
    predictor = _predictor()
    manifest = predictor.manifest
    response = jsonify(
        {
            "version": predictor.version,
            "serving": current_app.extensions["hta_models"].state(),
            "created": manifest.get("created"),
            "labels": list(predictor.labels),
            "thresholds": predictor.thresholds,
            "supported_languages": list(predictor.languages),
            "thresholds_by_language": {
                code: predictor.thresholds_for(code) for code in predictor.languages_with_thresholds
            },
            # only the labels a source has its own threshold for (the others: its language's or the global)
            "thresholds_by_source": manifest.get("thresholds_by_source") or {},
            "languages": manifest.get("languages"),
            "metrics": manifest.get("metrics"),
            "training_data": manifest.get("training_data"),
            "params": manifest.get("params"),
        }
    )
    response.headers["X-Model-Version"] = predictor.version
    return response


@bp.get("/models")
@operation("All model versions", responses={200: ModelList}, errors=(401, 403), auth="client")
def models():
    """Every version in the models directory, and which one is current."""
    models_dir = current_app.config["MODELS_DIR"]
    try:
        current = current_app.extensions["hta_pointer"].current()
    except ArtifactError:
        current = None
    versions = []
    for name in list_versions(models_dir):
        try:
            summary = _summary(read_manifest(find_version(models_dir, name)[0]))
        except ArtifactError:
            continue
        versions.append({**summary, "version": name, "current": name == current})
    return jsonify({"current": current, "versions": versions})


@bp.post("/models/<version>/activate")
@operation("Make a version current (rollback)", responses={200: Activated}, errors=(401, 403, 404, 409),
           auth="admin")  # fmt: skip
def activate(version: str):
    """Make `version` current (models/CURRENT atomically, or the database's pointer row: every instance)."""
    models_dir = current_app.config["MODELS_DIR"]
    try:
        check_version_name(version)
    except ArtifactError:
        raise APIError(404, "not_found", f"model version {version!r} not found") from None
    if version not in list_versions(models_dir):
        raise APIError(404, "not_found", f"model version {version!r} not found")
    pointer = current_app.extensions["hta_pointer"]
    previous = pointer.current()
    try:
        pointer.set_current(version)
    except ArtifactError as exc:
        raise APIError(409, "invalid_model", f"model version {version!r} cannot be loaded: {exc}") from None
    current_app.logger.info("model %s activated (was %s)", version, previous)
    predictor = _predictor()
    return jsonify({"current": version, "previous": previous, "serving": predictor.version})


@bp.post("/models/<version>/shadow")
@operation(
    "Shadow a version: score a share of live traffic with it beside the served one (admin)",
    description="The shadow version's answers are never returned: its decisions are compared with the served "
    "version's per passage, off the request (a bounded queue; work it cannot take is dropped and counted). "
    "One run at a time; GET /v1/shadow reports it, DELETE /v1/shadow stops it.",
    body=ShadowRequest,
    body_optional=True,
    responses={201: ShadowStarted},
    errors=(400, 401, 403, 404, 409, 413, 415, 503, 507),
    auth="admin",
    example={"share": 0.2, "passages": 5000},
)
def shadow_start(version: str, body: ShadowRequest):
    """Check the version and start its shadow run."""
    from classifier.artifacts import verify_version

    models_dir = current_app.config["MODELS_DIR"]
    try:
        check_version_name(version)
        version_dir, root = find_version(models_dir, version, current_app.config.get("BUNDLED_MODELS_DIR"))
    except ArtifactError:
        raise APIError(404, "not_found", f"model version {version!r} not found") from None
    try:
        manifest = verify_version(version_dir, root)
    except ArtifactError as exc:
        raise APIError(409, "invalid_model", f"model version {version!r} cannot be loaded: {exc}") from None
    predictor = _predictor()
    if version == predictor.version:
        raise APIError(409, "same_version", f"model version {version!r} is the one served: shadow another version")
    if list(manifest["labels"]) != list(predictor.labels):
        raise APIError(
            409,
            "labels_differ",
            f"model version {version!r} scores labels {', '.join(manifest['labels'])}; the served "
            f"{predictor.version} scores {', '.join(predictor.labels)}: their decisions cannot be compared",
        )
    share = body.share if body.share is not None else current_app.config["SHADOW_SHARE"]
    try:
        run = current_app.extensions["hta_shadow"].start(
            version, share, body.passages, predictor.labels, predictor.version
        )
    except ShadowRunning as exc:
        raise APIError(
            409, "shadow_running", f"a shadow run of {exc.run['version']} is already running (since "
            f"{exc.run['started']}): stop it with DELETE /v1/shadow first"
        ) from None  # fmt: skip
    current_app.logger.info("shadow run of %s started (share %s)", version, share)
    location = url_for("api.shadow_report")
    return jsonify({"run": run, "location": location}), 201, {"Location": location}


@bp.get("/shadow")
@operation(
    "The shadow run: per label both versions' alert rates, how often they disagree, sample passages (admin)",
    responses={200: ShadowReport},
    errors=(401, 403, 404),
    auth="admin",
)
def shadow_report():
    """The last shadow run's figures."""
    report = current_app.extensions["hta_shadow"].current()
    if report is None:
        raise APIError(404, "not_found", "no shadow run was started")
    return jsonify(report)


@bp.delete("/shadow")
@operation("Stop the running shadow run (admin)", responses={200: ShadowReport}, errors=(401, 403, 404, 503, 507),
           auth="admin")  # fmt: skip
def shadow_stop():
    """Stop the run; its figures stay readable."""
    shadow = current_app.extensions["hta_shadow"]
    if shadow.stop() is None:
        raise APIError(404, "not_found", "no shadow run is running")
    return jsonify(shadow.current())


@bp.post("/feedback")
@operation(
    "Store labelled passages for the next retrain",
    description='One item or {"items": [...]}. A feedback text is one passage: at most MAX_FEEDBACK_TEXT_CHARS '
    "characters, at most MAX_FEEDBACK_ITEMS items per request (HTA_ settings; the limits in force are in "
    "this document). The caller's analyst name is recorded as each row's annotator; an analyst's second label "
    "of the same passage replaces their first.",
    body=FeedbackRequest,
    responses={201: FeedbackStored},
    errors=(400, 401, 403, 413, 415),
    auth="feedback",
    example={"text": "Saboteurs cut the undersea cable.", "labels": ["sabotage_mention"], "document_id": "d1"},
)
def feedback(body: FeedbackRequest):
    """Store the items in one transaction, each recording the caller as its annotator."""
    caller = current_caller()
    items = [
        {
            "text": item.text,
            "labels": sorted(set(item.labels)),
            "document_id": None if item.document_id is None else str(item.document_id),
            "document_source": item.document_source,
            "model_version": item.model_version,
            "annotator": None if caller is None else caller.name,
        }
        for item in body.items()
    ]
    ids = current_app.extensions["hta_store"].add_feedback(items)
    return jsonify({"stored": len(ids), "ids": ids}), 201


@bp.get("/feedback")
@operation(
    "List stored feedback, oldest first (admin)",
    description="Filter by time (since, until), label, document_id, source and annotator; page with limit and after_id "
    "(the next_after_id of the previous page).",
    query=FeedbackQuery,
    responses={200: FeedbackPage},
    errors=(400, 401, 403),
    auth="admin",
)
def list_feedback(query: FeedbackQuery):
    """One page of feedback rows."""
    rows = current_app.extensions["hta_store"].list_feedback(**query.store_filters())
    next_after = rows[-1]["id"] if len(rows) == query.limit else None
    return jsonify({"items": rows, "next_after_id": next_after})


@bp.delete("/feedback/<int(max=9223372036854775807):feedback_id>")  # beyond SQLite: 404
@operation("Delete one feedback row (admin)", responses={200: FeedbackDeleted}, errors=(401, 403, 404),
           auth="admin")  # fmt: skip
def delete_feedback(feedback_id: int):
    """Delete the row and answer what it held."""
    store = current_app.extensions["hta_store"]
    row = store.get_feedback(feedback_id)
    if row is None or not store.delete_feedback(feedback_id):
        raise APIError(404, "not_found", f"feedback {feedback_id} not found")
    current_app.logger.info("feedback %s deleted", feedback_id)
    return jsonify({"deleted": row})


@bp.post("/retrain")
@operation(
    "Start a background retrain job (corpus + feedback, gated promotion)",
    description='An empty body or {}: the training data is configured on the server. {"shadow": N}: a candidate '
    "the gate passes is first shadowed on N live passages (POST /v1/models/<version>/shadow) and its verdict "
    "includes the comparison; a label whose alert rate jumps by more than HTA_GATE_SHADOW_RATE_JUMP times "
    "refuses promotion.",
    body=RetrainRequest,
    body_optional=True,
    responses={202: RetrainStarted},
    errors=(400, 401, 403, 409, 413, 415),
    auth="admin",
)
def retrain(body: RetrainRequest):
    """Queue a retrain job and start its process."""
    try:
        job = start_retrain(current_app.config, current_app.extensions["hta_store"], shadow=body.shadow or 0)
    except RetrainRunning as exc:
        raise APIError(409, "retrain_running", f"retrain job {exc.job_id} is already running") from None
    location = url_for("api.job", job_id=job["id"])
    return jsonify({"job": job, "location": location}), 202, {"Location": location}


@bp.get("/jobs/<job_id>")
@operation("State, progress, metrics and gate verdict of a job", responses={200: Job}, errors=(401, 403, 404),
           auth="client")  # fmt: skip
def job(job_id: str):
    """One retrain job's record."""
    store = current_app.extensions["hta_store"]
    store.mark_interrupted()
    found = store.get_job(job_id)
    if found is None:
        raise APIError(404, "not_found", f"job {job_id!r} not found")
    return jsonify(found)
