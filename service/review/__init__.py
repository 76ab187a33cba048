"""The review queue: a pool of passages worth an analyst's labels, ranked by the current model.

`register(app)` opens the queue's tables in the service's store (SQLite or PostgreSQL), hooks the queue's label counting
into the feedback store's transaction and adds the ``/v1/queue`` routes;
`capture_predictions` is the optional hook of ``POST /v1/predict``.
"""

from __future__ import annotations

from flask import Flask

from service.review.capture import capture_predictions
from service.review.store import QueueStore, settle_labels

__all__ = ["capture_predictions", "register"]

# Settings that must be positive, checked once at start-up so a bad value fails loudly, not per request.
POSITIVE_SETTINGS = (
    "QUEUE_MAX_ITEMS", "QUEUE_CAPTURE_MAX_ITEMS", "QUEUE_CAPTURE_MAX_AGE_HOURS", "QUEUE_OVERLAP",
    "QUEUE_LEASE_SECONDS",
)  # fmt: skip


def register(app: Flask) -> None:
    """Check the queue settings, create the queue table and register the ``/v1/queue`` routes."""
    from service.review.routes import bp

    for key in POSITIVE_SETTINGS:
        value = app.config[key]
        if not value > 0:
            raise ValueError(f"HTA_{key}: expected a number above 0, got {value!r}")
    app.extensions["hta_queue"] = QueueStore(app.extensions["hta_store"]).init()
    overlap = app.config["QUEUE_OVERLAP"]
    # Every feedback row of the app's store (API, page, queue, Label Studio) counts as a label of the queue
    # item of its text, written by the queue's own code inside the feedback transaction.
    app.extensions["hta_store"].feedback_hooks.append(
        lambda conn, stored, decided: settle_labels(conn, stored, decided, overlap)
    )
    app.register_blueprint(bp)
