"""The ``/v1/queue`` routes: add passages or documents to the review pool, read the next passages to
label, skip one, label one (stored as feedback through `Store.add_feedback`, the one feedback path).

Each route's body, query, answers, errors and token are declared once with `service.contract.operation`
(models in `service.review.schemas`): the decorator checks the token and validates the request first.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.auth import current_caller
from service.contract import operation
from service.errors import APIError
from service.model_cache import NoModel
from service.review.capture import queue_store
from service.review.rank import next_items
from service.review.schemas import (
    QueueAdded,
    QueueAddRequest,
    QueueLabelled,
    QueueLabelRequest,
    QueueNext,
    QueueQuery,
    QueueSkipped,
    QueueSkipRequest,
)
from service.review.store import AlreadyLabelled, ItemNotFound, NewItem, QueueStore, document_items

bp = Blueprint("review", __name__, url_prefix="/v1")

# Feedback rows made from queue items: source "queue", reference = the item's id (a relabel replaces the row).
FEEDBACK_SOURCE = "queue"
TAGS = ("review-queue",)
ADD_EXAMPLE = {"documents": [{"id": "brief-1", "text": "Harbour update\n\nDivers found explosives on the pipeline."}]}


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
        "language": item["language"],
    }


class AvailableView:
    """The queue as one analyst may see it: `pending_scores` only of the items available to them."""

    def __init__(self, queue: QueueStore, ids: set[int]):
        self.queue = queue
        self.ids = ids

    def pending_scores(self, language: str | None = None) -> list[dict]:
        """The pending items available to this analyst."""
        return [row for row in self.queue.pending_scores(language) if row["id"] in self.ids]

    def cache_scores(self, version: str, scores: dict[int, list[float]]) -> None:
        """Cache scores in the queue itself."""
        self.queue.cache_scores(version, scores)


def _text_id(value: int | str | None) -> str | None:
    """A document id as the queue stores it: text (integers in decimal)."""
    return None if value is None else str(value)


@bp.post("/queue")
@operation(
    "Add passages or documents to the review pool",
    description="Documents are segmented into passages that keep the document id, offsets and context; "
    "passages are queued as given. A text already queued is not added again. Beyond HTA_QUEUE_MAX_ITEMS "
    "pending passages the oldest are dropped.",
    body=QueueAddRequest,
    responses={201: QueueAdded},
    errors=(400, 401, 403, 413, 415),
    auth="queue-add",
    example=ADD_EXAMPLE,
    tags=TAGS,
)
def add(body: QueueAddRequest):
    """Add passages (as given) or documents (segmented) to the pool; duplicates are not added twice."""
    items: list[NewItem] = []
    if body.passages is not None:
        for passage in body.passages:
            items.append(NewItem(text=passage.text.strip(), document_id=_text_id(passage.document_id)))
    else:
        for document in body.documents:
            items.extend(document_items(document.text, _text_id(document.id)))
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
@operation(
    "The next passages to label, ranked by the current model",
    description="Pending passages only (not labelled, not skipped), most worth labelling first, each with "
    "its document context, scores, labels and evidence; the model's labels and thresholds at the top level. "
    "Reading does not consume the pool. Answers the ranking version in the X-Model-Version header too.",
    query=QueueQuery,
    responses={200: QueueNext},
    errors=(400, 401, 403, 503),
    auth="client",
    tags=TAGS,
)
def next_to_label(query: QueueQuery):
    """The next passages to label, ranked by the current model, with context, scores and evidence."""
    predictor = _predictor()
    queue = queue_store()
    # Captured text is dropped at its age limit even after capture was turned off.
    queue.expire("capture", current_app.config["QUEUE_CAPTURE_MAX_AGE_HOURS"] * 3600)
    caller = current_caller()
    if caller is None:  # anonymous reads (HTA_LABELS_OPEN) neither lease nor see who labelled what
        ranked, strategy = next_items(predictor, queue, query.limit, language=query.language)
    else:
        overlap = current_app.config["QUEUE_OVERLAP"]
        view = AvailableView(queue, queue.available(caller.name, overlap))
        # Ranked twice the limit: another analyst may lease some of them between ranking and leasing.
        ranked, strategy = next_items(predictor, view, min(2 * query.limit, 1000), language=query.language)
        leased = set(
            queue.lease(caller.name, [row["id"] for row in ranked], query.limit, overlap,
                        current_app.config["QUEUE_LEASE_SECONDS"])
        )  # fmt: skip
        ranked = [row for row in ranked if row["id"] in leased]
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
@operation(
    "Skip a passage: it is not offered again",
    description="Skipping twice is harmless; a labelled passage cannot be skipped (409).",
    body=QueueSkipRequest,
    body_optional=True,
    responses={200: QueueSkipped},
    errors=(400, 401, 403, 404, 409, 413, 415),
    auth="client",
    example={},
    tags=TAGS,
)
def skip(item_id: str, body: QueueSkipRequest):
    """Mark a passage skipped: it is not offered again."""
    number = _item_id(item_id)
    queue = queue_store()
    try:
        item = queue.mark_skipped(number)
    except ItemNotFound:
        raise APIError(404, "not_found", f"queue item {number} not found") from None
    except AlreadyLabelled:
        raise APIError(409, "already_labelled", f"queue item {number} is labelled already") from None
    return jsonify({"item": _public(item), "counts": queue.counts()})


@bp.post("/queue/<item_id>/label")
@operation(
    "Label a passage: stored as feedback for the next retrain",
    description='The labels are stored as a feedback row (source "queue"; a relabel replaces that row) and the '
    "passage leaves the pool; a skipped passage can still be labelled. Same token as POST /v1/feedback.",
    body=QueueLabelRequest,
    responses={200: QueueLabelled},
    errors=(400, 401, 403, 404, 413, 415),
    auth="feedback",
    example={"labels": ["sabotage_mention"]},
    tags=TAGS,
)
def label(item_id: str, body: QueueLabelRequest):
    """Store a passage's labels as feedback (source "queue", one row per item) and mark it labelled."""
    number = _item_id(item_id)
    caller = current_caller()
    try:
        version = current_app.extensions["hta_models"].current().version
    except NoModel:
        version = None
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
        "annotator": None if caller is None else caller.name,
        "ref_per_annotator": True,
    }
    # The feedback store's hook (service.review.settle_labels) counts the label and, at the overlap,
    # marks the item labelled, in the same transaction.
    [feedback_id] = current_app.extensions["hta_store"].add_feedback([feedback])
    item = queue.get(number) or {**item, "state": "labelled", "feedback_id": feedback_id}  # dropped meanwhile
    return jsonify({"item": _public(item), "feedback_id": feedback_id, "counts": queue.counts()})
