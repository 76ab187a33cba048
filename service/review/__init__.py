"""The review queue: a pool of passages worth an analyst's labels, ranked by the current model.

`register(app)` opens the queue's table in the service's SQLite file and adds the ``/v1/queue`` routes;
`capture_predictions` is the optional hook of ``POST /v1/predict``.
"""

from __future__ import annotations

from flask import Flask

from service.review.capture import capture_predictions
from service.review.store import QueueStore

__all__ = ["capture_predictions", "register"]

# Settings that must be positive, checked once at start-up so a bad value fails loudly, not per request.
POSITIVE_SETTINGS = ("QUEUE_MAX_ITEMS", "QUEUE_CAPTURE_MAX_ITEMS", "QUEUE_CAPTURE_MAX_AGE_HOURS")


def register(app: Flask) -> None:
    """Check the queue settings, create the queue table and register the ``/v1/queue`` routes."""
    from service.review.routes import bp

    for key in POSITIVE_SETTINGS:
        value = app.config[key]
        if not value > 0:
            raise ValueError(f"HTA_{key}: expected a number above 0, got {value!r}")
    app.extensions["hta_queue"] = QueueStore(app.config["FEEDBACK_DB"]).init()
    app.register_blueprint(bp)
