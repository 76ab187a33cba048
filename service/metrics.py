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
# Per passage, counted by the monitor's flusher (service/monitor.py); `source` is bounded: the first
# HTA_MONITOR_MAX_SOURCES names, then "other" ("unnamed" when a request names none).
SOURCE_PASSAGES = Counter(
    "hta_source_passages_scored",
    "Passages scored (in a language the model reads), per source of the request",
    ["source"],
    registry=REGISTRY,
)
PASSAGE_ALERTS = Counter(
    "hta_passage_alerts",
    "Passages at or above a label's threshold, per label and source",
    ["label", "source"],
    registry=REGISTRY,
)
SCORE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
PASSAGE_SCORES = Histogram(
    "hta_passage_score", "Scores of the passages scored, per label", ["label"], buckets=SCORE_BUCKETS, registry=REGISTRY
)
LANGUAGE_PASSAGES = Counter(
    "hta_passages_by_language",
    "Passages of POST /v1/predict by identified language (und: cannot tell) and whether the model reads it",
    ["language", "supported"],
    registry=REGISTRY,
)
SHADOW_DROPPED = Counter(
    "hta_shadow_dropped",
    "Predict requests a shadow run would have scored but its queue was full (HTA_SHADOW_QUEUE)",
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


class MonitorCollector:
    """The drift monitor's window, read at scrape time from the rings every worker shares (service/monitor.py):
    per source and label the window's passages, alert rate, expected rate, their ratio, PSI and raised flags."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from service.model_cache import NoModel
        from service.monitor import FLAG_NAMES

        families = {
            "passages": GaugeMetricFamily(
                "hta_monitor_window_passages", "Passages in the monitor's recent window, per source", labels=["source"]
            ),
            "alert_rate": GaugeMetricFamily(
                "hta_monitor_alert_rate", "Alert rate of the window's passages", labels=["label", "source"]
            ),
            "expected": GaugeMetricFamily(
                "hta_monitor_expected_alert_rate",
                "Alert rate of the served version on its held-out rows (its manifest's score_reference)",
                labels=["label"],
            ),
            "ratio": GaugeMetricFamily(
                "hta_monitor_alert_rate_ratio", "Window alert rate over the expected one", labels=["label", "source"]
            ),
            "psi": GaugeMetricFamily(
                "hta_monitor_psi",
                "Population stability index of the window's scores against the held-out ones",
                labels=["label", "source"],
            ),
            "flag": GaugeMetricFamily(
                "hta_monitor_flag",
                "1 when the monitor raises the flag (drift, alert_rate_high, alert_rate_low) on a window of at least "
                "HTA_MONITOR_MIN_PASSAGES passages",
                labels=["label", "source", "flag"],
            ),
        }
        try:
            predictor = self.app.extensions["hta_models"].current()
            report = self.app.extensions["hta_monitor"].report(predictor)
        except (NoModel, KeyError):
            report = None
        if report is not None:
            for source, figures in report["sources"].items():
                families["passages"].add_metric([source], figures["passages"])
                for label, entry in figures["labels"].items():
                    raised = {flag["flag"] for flag in entry["flags"]}
                    for flag in FLAG_NAMES:
                        families["flag"].add_metric([label, source, flag], 1 if flag in raised else 0)
                    for key, family in (("alert_rate", "alert_rate"), ("alert_rate_ratio", "ratio"), ("psi", "psi")):
                        if entry[key] is not None:
                            families[family].add_metric([label, source], entry[key])
                    if source == "all" and entry["expected_alert_rate"] is not None:
                        families["expected"].add_metric([label], entry["expected_alert_rate"])
        yield from families.values()


def counter_value(name: str) -> float:
    """A counter's total over its series and every worker (`name` without ``_total``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if sample.name == name + "_total"
    )


class ShadowCollector:
    """The shadow run's figures (service/shadow.py), read at scrape time."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        rates = GaugeMetricFamily(
            "hta_shadow_alert_rate",
            "Alert rate of the passages a shadow run scored, by the served (current) and the shadow version",
            labels=["label", "model", "shadow_version"],
        )
        disagreement = GaugeMetricFamily(
            "hta_shadow_disagreement_rate",
            "Share of the shadow run's passages whose decision differs between the two versions",
            labels=["label", "shadow_version"],
        )
        passages = GaugeMetricFamily(
            "hta_shadow_passages", "Passages the running shadow run scored", labels=["shadow_version"]
        )
        try:
            report = self.app.extensions["hta_shadow"].current()
        except KeyError:
            report = None
        if report is not None and report["state"] == "running":
            version = report["run"]["version"]
            passages.add_metric([version], report["passages"])
            for label, entry in report["labels"].items():
                if entry["current_alert_rate"] is not None:
                    rates.add_metric([label, "current", version], entry["current_alert_rate"])
                    rates.add_metric([label, "shadow", version], entry["shadow_alert_rate"])
                    disagreement.add_metric([label, version], entry["disagreement_rate"])
        yield from (passages, rates, disagreement)


def render(app) -> bytes:
    """The metrics page: this process's (or all workers') metrics plus the state gauges."""
    monitor = app.extensions.get("hta_monitor")
    if monitor is not None:  # this worker's pending passages first (the others' flush within a second)
        monitor.flush()
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(app))
    state.register(QueueCollector(app))
    state.register(MonitorCollector(app))
    state.register(ShadowCollector(app))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged) + generate_latest(state)
    return generate_latest(REGISTRY) + generate_latest(state)
