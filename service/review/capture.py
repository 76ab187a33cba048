"""Optional capture of the passages `POST /v1/predict` scored into the review queue (``HTA_QUEUE_CAPTURE``).

Off by default: request text may be sensitive, and capture keeps it in the service's SQLite file
(captured passages not labelled are dropped after ``HTA_QUEUE_CAPTURE_MAX_AGE_HOURS``, the oldest first
beyond ``HTA_QUEUE_CAPTURE_MAX_ITEMS``). A capture failure is logged and never fails the prediction.
"""

from __future__ import annotations

import logging

from flask import current_app

from classifier.segment import Passage
from service import metrics
from service.review.store import NewItem, QueueStore, document_items

log = logging.getLogger("service.review")


def capture_predictions(texts: list[str], ids: list | None, results: list[dict], predictor) -> None:
    """Queue the passages of a prediction when capture is on (a no-op otherwise).

    Documents keep their id (`ids`, when the request gave documents) and offsets; passages the
    response listed are cached with the scores it gave them, so ranking need not score them again.
    """
    config = current_app.config
    if not config.get("QUEUE_CAPTURE"):
        return
    try:
        items = _items(texts, ids, results, predictor)
        added = queue_store().add(
            items,
            "capture",
            max_pending=config["QUEUE_MAX_ITEMS"],
            max_origin_pending=config["QUEUE_CAPTURE_MAX_ITEMS"],
            max_age_seconds=config["QUEUE_CAPTURE_MAX_AGE_HOURS"] * 3600,
        )
        metrics.QUEUE_CAPTURED.inc(len(added.ids))
    except Exception:
        log.exception("review-queue capture failed; the prediction is answered anyway")


def queue_store() -> QueueStore:
    """The app's review-queue store."""
    return current_app.extensions["hta_queue"]


def _items(texts: list[str], ids: list | None, results: list[dict], predictor) -> list[NewItem]:
    labels = list(predictor.labels)
    items: list[NewItem] = []
    for i, (text, result) in enumerate(zip(texts, results, strict=True)):
        document_id = None if ids is None or ids[i] is None else str(ids[i])
        listed = result.get("passages")
        if listed:
            passages = [Passage(p["start"], p["end"], p["text"], p["kind"]) for p in listed]
            scores = [tuple(p["scores"][label] for label in labels) for p in listed]
            items.extend(document_items(text, document_id, passages, scores, predictor.version))
        else:
            items.extend(document_items(text, document_id))
    return items
