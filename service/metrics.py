"""Prometheus metrics. Under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set) counters and histograms are
aggregated across workers; the model version and job counts are read from disk/SQLite at scrape time."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "hta_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "hta_http_request_duration_seconds",
    "Request latency by route, method and status",
    ["route", "method", "status"],
    buckets=BUCKETS,
    registry=REGISTRY,
)
PASSAGES = Counter("hta_passages_scored", "Passages (texts or document passages) scored", registry=REGISTRY)
ALERTS = Counter(
    "hta_alerts", "Alerts raised, per label (texts flagged, or documents with an alert)", ["label"], registry=REGISTRY
)
UNSUPPORTED = Counter(
    "hta_passages_unsupported",
    "Passages in a language the model was not trained on (not scored unless HTA_SCORE_UNSUPPORTED), by language "
    "(an ISO code of the language identifier's 176: a bounded label)",
    ["language"],
    registry=REGISTRY,
)
RETRAINS = Counter("hta_retrain_jobs_started", "Retrain jobs started by this server", registry=REGISTRY)
QUEUE_CAPTURED = Counter(
    "hta_queue_captured",
    "Passages of POST /v1/predict added to the review queue (HTA_QUEUE_CAPTURE)",
    registry=REGISTRY,
)


class StateCollector:
    """Current model version (from models/CURRENT and as loaded here) and retrain jobs per state."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        try:
            version = self.app.extensions["hta_pointer"].current()  # models/CURRENT, or the database's row
        except Exception:
            version = None
        info = GaugeMetricFamily(
            "hta_model_current_info", "The current model version (models/CURRENT)", labels=["version"]
        )
        if version:
            info.add_metric([version], 1)
        yield info
        # What this worker serves; every worker decides it from the same files, so any one can answer.
        state = self.app.extensions["hta_models"].state()
        serving = GaugeMetricFamily(
            "hta_model_serving_info",
            "The version served and the current version (differ when the current one fails verification)",
            labels=["version", "current"],
        )
        if state["serving"]:
            serving.add_metric([state["serving"], state["current"] or ""], 1)
        yield serving
        yield GaugeMetricFamily(
            "hta_model_fallback",
            "1 when an earlier version is served because the current one fails verification",
            value=1 if state["fallback"] else 0,
        )
        yield GaugeMetricFamily(
            "hta_model_available",
            "1 when a verified version is served, 0 when every request gets 503",
            value=1 if state["serving"] else 0,
        )
        jobs = GaugeMetricFamily("hta_retrain_jobs", "Retrain jobs recorded, per state", labels=["state"])
        try:
            counts = self.app.extensions["hta_store"].job_counts()
        except Exception:
            counts = {}
        for state in ("queued", "running", "succeeded", "rejected", "failed"):
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs


class QueueCollector:
    """Review-queue items per state (pending = the pool's size, labelled, skipped), read at scrape time."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        items = GaugeMetricFamily("hta_queue_items", "Review-queue passages, per state", labels=["state"])
        try:
            counts = self.app.extensions["hta_queue"].counts()
        except Exception:
            counts = {}
        for state in ("pending", "labelled", "skipped"):
            items.add_metric([state], counts.get(state, 0))
        yield items


def render(app) -> bytes:
    """The metrics page: this process's (or all workers') metrics plus the state gauges."""
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(app))
    state.register(QueueCollector(app))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged) + generate_latest(state)
    return generate_latest(REGISTRY) + generate_latest(state)
