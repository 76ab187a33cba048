"""The ``/v1/queue`` routes: add passages or documents to the review pool, read the next passages to
label, skip one, label one (stored as feedback through `Store.add_feedback`, the one feedback path).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from classifier.config import DEFAULT_LABELS
from classifier.io import loads
from service.auth import require_admin, require_client
from service.errors import APIError
from service.model_store import NoModel
from service.review.capture import queue_store
from service.review.rank import next_items
from service.review.schemas import AddRequest, LabelRequest, SkipRequest, error_message
from service.review.store import AlreadyLabelled, ItemNotFound, NewItem, document_items

bp = Blueprint("review", __name__, url_prefix="/v1")

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
# Feedback rows made from queue items: source "queue", reference = the item's id (a relabel replaces the row).
FEEDBACK_SOURCE = "queue"


def _body(model: type[BaseModel], allow_empty: bool = False):
    """The JSON body validated by `model`: 415 if not JSON, 413 if too large, 400 naming the bad field."""
    raw = request.get_data(cache=True)  # raises 413 over MAX_CONTENT_LENGTH
    if allow_empty and not raw.strip():
        return None
    if not request.is_json:
        raise APIError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        data = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # NotJsonError (NaN, nesting too deep) is a ValueError
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise APIError(400, "invalid_request", error_message(exc)) from None


def _check_text(text: str, where: str) -> None:
    if not text.strip():
        raise APIError(400, "empty_text", f"{where} is empty")
    limit = current_app.config["MAX_TEXT_CHARS"]
    if len(text) > limit:
        raise APIError(413, "text_too_long", f"{where} has {len(text)} characters; the limit is {limit}")


def _check_batch(values: list, where: str) -> None:
    if not values:
        raise APIError(400, "invalid_request", f"'{where}' is empty")
    limit = current_app.config["MAX_BATCH"]
    if len(values) > limit:
        raise APIError(413, "batch_too_large", f"'{where}' has {len(values)} items; the limit is {limit}")


def _predictor():
    try:
        return current_app.extensions["hta_models"].current()
    except NoModel as exc:
        raise APIError(503, "model_unavailable", f"no model loaded: {exc}") from None


def _item_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise APIError(404, "not_found", f"queue item {value!r} not found")
    return int(value)


def _public(item: dict) -> dict:
    """An item as the API shows it (the text around it as `context`)."""
    return {
        "id": item["id"],
        "text": item["text"],
        "state": item["state"],
        "origin": item["origin"],
        "created": item["created"],
        "document_id": item["document_id"],
        "start": item["start"],
        "end": item["end"],
        "kind": item["kind"],
        "context": {"before": item["context_before"], "after": item["context_after"]},
        "decided": item["decided"],
        "feedback_id": item["feedback_id"],
    }


@bp.post("/queue")
def add():
    """Add passages (as given) or documents (segmented) to the pool; duplicates are not added twice."""
    if current_app.config["QUEUE_ADD_BY_CLIENT"]:
        require_client()
    else:
        require_admin()
    body = _body(AddRequest)
    items: list[NewItem] = []
    if body.passages is not None:
        _check_batch(body.passages, "passages")
        for i, passage in enumerate(body.passages):
            _check_text(passage.text, f"passages[{i}].text")
            items.append(NewItem(text=passage.text.strip(), document_id=passage.document_id))
    else:
        _check_batch(body.documents, "documents")
        for i, document in enumerate(body.documents):
            _check_text(document.text, f"documents[{i}].text")
        for document in body.documents:
            items.extend(document_items(document.text, document.id))
    queue = queue_store()
    added = queue.add(items, "api", max_pending=current_app.config["QUEUE_MAX_ITEMS"])
    answer = {
        "added": len(added.ids),
        "duplicates": added.duplicates,
        "dropped": added.dropped,
        "ids": added.ids,
        "counts": queue.counts(),
    }
    return jsonify(answer), 201


@bp.get("/queue")
def next_to_label():
    """The next passages to label, ranked by the current model, with context, scores and evidence."""
    require_client()
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        raise APIError(400, "invalid_request", f"unknown query parameter(s): {', '.join(unknown)}")
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
        raise APIError(400, "invalid_request", f"'limit' must be an integer 1..{MAX_LIMIT}")
    predictor = _predictor()
    queue = queue_store()
    # Captured text is dropped at its age limit even after capture was turned off.
    queue.expire("capture", current_app.config["QUEUE_CAPTURE_MAX_AGE_HOURS"] * 3600)
    ranked, strategy = next_items(predictor, queue, int(raw))
    stored = queue.get_many([row["id"] for row in ranked])
    items = []
    for row in ranked:
        if row["id"] not in stored:  # labelled or dropped by another request meanwhile
            continue
        item = _public(stored[row["id"]])
        item.update(
            rank=row["rank"],
            labels=row["labels"],
            scores=row["scores"],
            evidence=row["evidence"],
            margin=row["margin"],
            nearest_label=row["nearest_label"],
        )
        items.append(item)
    response = jsonify(
        {
            "model_version": predictor.version,
            "strategy": strategy,
            "labels": list(predictor.labels),
            "thresholds": predictor.thresholds,
            "counts": queue.counts(),
            "items": items,
        }
    )
    response.headers["X-Model-Version"] = predictor.version
    return response


@bp.post("/queue/<item_id>/skip")
def skip(item_id: str):
    """Mark a passage skipped: it is not offered again."""
    require_client()
    number = _item_id(item_id)
    _body(SkipRequest, allow_empty=True)
    queue = queue_store()
    try:
        item = queue.mark_skipped(number)
    except ItemNotFound:
        raise APIError(404, "not_found", f"queue item {number} not found") from None
    except AlreadyLabelled:
        raise APIError(409, "already_labelled", f"queue item {number} is labelled already") from None
    return jsonify({"item": _public(item), "counts": queue.counts()})


@bp.post("/queue/<item_id>/label")
def label(item_id: str):
    """Store a passage's labels as feedback (source "queue", one row per item) and mark it labelled."""
    if current_app.config.get("FEEDBACK_REQUIRES_ADMIN"):
        require_admin()
    else:
        require_client()
    number = _item_id(item_id)
    body = _body(LabelRequest)
    try:
        predictor = current_app.extensions["hta_models"].current()
        known, version = set(predictor.labels), predictor.version
    except NoModel:
        known, version = set(DEFAULT_LABELS), None
    bad = [name for name in body.labels if name not in known]
    if bad:
        raise APIError(
            400,
            "unknown_label",
            f"labels: unknown label(s) {', '.join(map(repr, bad))}; known: {', '.join(sorted(known))}",
        )
    queue = queue_store()
    item = queue.get(number)
    if item is None:
        raise APIError(404, "not_found", f"queue item {number} not found")
    feedback = {
        "text": item["text"],
        "labels": sorted(set(body.labels)),
        "document_id": item["document_id"],
        "model_version": version,
        "source": FEEDBACK_SOURCE,
        "source_ref": str(number),
    }
    [feedback_id] = current_app.extensions["hta_store"].add_feedback([feedback])
    try:
        item = queue.mark_labelled(number, feedback_id)
    except ItemNotFound:  # dropped from the pool meanwhile: the feedback is stored all the same
        item = {**item, "state": "labelled", "feedback_id": feedback_id}
    return jsonify({"item": _public(item), "feedback_id": feedback_id, "counts": queue.counts()})
