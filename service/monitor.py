"""Watching the model in production: per-source alert counts, score histograms, languages and drift.

A predict request only hands its passages' scores to `Monitor.record` (one deque append: the lists the
predictor built for the answer, not copied). A background thread of each worker (`_Flusher`, every
`FLUSH_SECONDS`) turns what piled up into the Prometheus counters and histograms (multiprocess mode:
aggregated across workers) and appends it to the worker's ring of the shared score window
(`service.monitor_window`). Reading (``GET /v1/monitor``, the drift gauges of ``/metrics``) first flushes
this worker's pending passages, then merges every worker's ring: the newest ``HTA_MONITOR_WINDOW`` passages
scored by the version served.

Drift is judged against the version's `score_reference` (`training.reference`: its held-out rows' score
deciles and alert rate per label): the population stability index PSI = sum over bins of
(live - expected) x ln(live / expected), shares floored at `PSI_FLOOR`, and the live alert rate over the
expected one. A window (all passages, or one source's) of at least ``HTA_MONITOR_MIN_PASSAGES`` raises the
flags ``drift`` (PSI at or above ``HTA_MONITOR_PSI``), ``alert_rate_high`` / ``alert_rate_low`` (ratio at or
above ``HTA_MONITOR_RATE_RATIO``, or at or below its inverse).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
import weakref
from datetime import UTC, datetime

import numpy as np

from service import metrics
from service.monitor_window import (
    MAX_LABELS,
    ROW,
    UNNAMED_INDEX,
    ScoreWindow,
    SourceNames,
    monitor_directory,
    version_key,
)

log = logging.getLogger("service.monitor")

FLUSH_SECONDS = 0.5
MAX_PENDING = 50_000  # requests waiting for the flusher (it never lags this far; the oldest go first)
PSI_FLOOR = 1e-4  # an empty bin's share in PSI (ln 0 is undefined)
ALL = "all"


def psi(live: np.ndarray, expected: np.ndarray) -> float:
    """Population stability index of bin shares `live` against `expected` (each floored at `PSI_FLOOR`)."""
    a = np.maximum(np.asarray(live, dtype=float), PSI_FLOOR)
    e = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def observe_many(histogram_child, values: np.ndarray) -> None:
    """Observe every value of `values` in a prometheus_client histogram child with one increment per bucket
    (its `observe` takes one value and writes the shared files twice for each). Uses the child's buckets
    and sum as `Histogram.observe` does; tests/service/test_monitor.py checks both give the same series."""
    if not len(values):
        return
    bounds = np.asarray(histogram_child._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram_child._buckets, counts.tolist(), strict=False):
        if count:
            bucket.inc(count)
    histogram_child._sum.inc(float(np.sum(values)))


class _Children:
    """Cached Prometheus children (a `labels()` look-up costs more than the update)."""

    def __init__(self):
        self.cache: dict = {}

    def get(self, metric, *values):
        key = (metric, values)
        child = self.cache.get(key)
        if child is None:
            child = self.cache[key] = metric.labels(*values)
        return child


_CHILDREN = _Children()


class Monitor:
    """One app's monitor: pending passages, the shared source names and score window, the drift report."""

    def __init__(self, config, directory=None):
        self.sources = SourceNames(directory, config["MONITOR_MAX_SOURCES"])
        self.window = ScoreWindow(directory, config["MONITOR_WINDOW"])
        self.min_passages = config["MONITOR_MIN_PASSAGES"]
        self.psi_threshold = config["MONITOR_PSI"]
        self.rate_ratio = config["MONITOR_RATE_RATIO"]
        self._pending: collections.deque = collections.deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()
        _FLUSHER.add(self)

    @classmethod
    def from_config(cls, config) -> Monitor:
        """The monitor of a service's settings, sharing its state across gunicorn's workers when under it."""
        return cls(config, monitor_directory())

    def record(self, predictor, observed: tuple) -> None:
        """Queue one request's passages (`Predictor.score_documents`' `observed` tuple) for counting."""
        self._pending.append((time.time(), predictor, observed))

    def flush(self) -> None:
        """Count the pending passages into the metrics and this worker's ring of the window."""
        with self._lock:
            items = []
            while self._pending:
                items.append(self._pending.popleft())
            by_predictor: dict = {}
            for item in items:
                by_predictor.setdefault(id(item[1]), []).append(item)
            for group in by_predictor.values():
                self._count(group)

    def _count(self, items: list) -> None:
        predictor = items[0][1]
        labels = predictor.labels[:MAX_LABELS]
        width = len(labels)
        times, sources, scores, fired = [], [], [], []
        languages: collections.Counter = collections.Counter()
        index = self.sources.index
        for at, _, (rows, decided, codes, read, names) in items:
            languages.update(zip(codes, read, strict=True))
            for i, ok in enumerate(read):
                if ok:
                    times.append(at)
                    sources.append(index(names[i]) if names is not None else UNNAMED_INDEX)
                    scores.append(rows[i][:width])
                    fired.append(decided[i][:width])
        for (code, ok), n in languages.items():
            _CHILDREN.get(metrics.LANGUAGE_PASSAGES, code or "und", "true" if ok else "false").inc(n)
        if not times:
            return
        source = np.array(sources, dtype=np.int32)
        score = np.array(scores, dtype=np.float32).reshape(len(times), width)
        hit = np.array(fired, dtype=bool).reshape(len(times), width)
        for j, label in enumerate(labels):
            observe_many(_CHILDREN.get(metrics.PASSAGE_SCORES, label), score[:, j])
        for idx in np.unique(source).tolist():
            mine = source == idx
            name = self.sources.label(idx)
            _CHILDREN.get(metrics.SOURCE_PASSAGES, name).inc(int(mine.sum()))
            for label, n in zip(labels, hit[mine].sum(axis=0).tolist(), strict=True):
                if n:
                    _CHILDREN.get(metrics.PASSAGE_ALERTS, label, name).inc(n)
        out = np.zeros(len(times), dtype=ROW)
        out["time"] = times
        out["version"] = version_key(predictor.version)
        out["source"] = source
        out["scores"][:, :width] = score
        out["fired"][:, :width] = hit
        self.window.write(out)

    # ---------------------------------------------------------------------------------------------- reading

    def report(self, predictor) -> dict:
        """The window's figures per source (``all`` first) and label against the version's reference."""
        self.flush()
        rows = self.window.recent(predictor.version)
        labels = list(predictor.labels[:MAX_LABELS])
        reference = predictor.manifest.get("score_reference")
        groups = {ALL: rows}
        for idx in sorted(set(rows["source"].tolist()), key=lambda i: (i < 0, i if i >= 0 else -i)):
            groups[self.sources.label(idx)] = rows[rows["source"] == idx]
        times = rows["time"]
        return {
            "model_version": predictor.version,
            "window": {
                "passages": len(rows),
                "limit": self.window.size,
                "oldest": _iso(float(times.min())) if len(rows) else None,
                "newest": _iso(float(times.max())) if len(rows) else None,
            },
            "thresholds": {
                "psi": self.psi_threshold,
                "alert_rate_ratio": self.rate_ratio,
                "min_passages": self.min_passages,
            },
            "reference": None
            if reference is None
            else {"rows": reference.get("rows"), "computed_from": reference.get("computed_from")},
            "timeline": _timeline(rows, labels),
            "sources_tracked": self.sources.names(),
            "sources_limit": self.sources.limit,
            "sources": {name: self._figures(subset, labels, reference) for name, subset in groups.items()},
        }

    def _figures(self, rows: np.ndarray, labels: list[str], reference: dict | None) -> dict:
        n = len(rows)
        out = {}
        for j, label in enumerate(labels):
            expected = ((reference or {}).get("labels") or {}).get(label)
            rate = float(rows["fired"][:, j].mean()) if n else None
            entry: dict = {
                "alerts": int(rows["fired"][:, j].sum()),
                "alert_rate": _round(rate),
                "expected_alert_rate": expected["alert_rate"] if expected else None,
                "alert_rate_ratio": None,
                "psi": None,
                "flags": [],
            }
            if expected and n:
                from training import bin_shares

                entry["psi"] = _round(psi(bin_shares(rows["scores"][:, j], expected["bins"]), expected["shares"]))
                if expected["alert_rate"] > 0:
                    entry["alert_rate_ratio"] = _round(rate / expected["alert_rate"])
            if n >= self.min_passages:
                entry["flags"] = self._flags(entry)
            out[label] = entry
        return {"passages": n, "labels": out}

    def _flags(self, entry: dict) -> list[dict]:
        flags = []
        if entry["psi"] is not None and entry["psi"] >= self.psi_threshold:
            flags.append({"flag": "drift", "psi": entry["psi"], "threshold": self.psi_threshold})
        ratio = entry["alert_rate_ratio"]
        if ratio is not None and ratio >= self.rate_ratio:
            flags.append({"flag": "alert_rate_high", "alert_rate_ratio": ratio, "threshold": self.rate_ratio})
        elif ratio is not None and ratio <= 1 / self.rate_ratio:
            low = _round(1 / self.rate_ratio)
            flags.append({"flag": "alert_rate_low", "alert_rate_ratio": ratio, "threshold": low})
        return flags


FLAG_NAMES = ("drift", "alert_rate_high", "alert_rate_low")
TIMELINE_BINS = 20


def _timeline(rows: np.ndarray, labels: list[str]) -> dict:
    """The window's alert rate per label over time: `TIMELINE_BINS` equal spans of passages (oldest first),
    each with its last passage's time (epoch seconds) and passages (the page's chart)."""
    if not len(rows):
        return {"times": [], "passages": [], "alert_rates": {label: [] for label in labels}}
    ordered = rows[np.argsort(rows["time"], kind="stable")]
    spans = [span for span in np.array_split(np.arange(len(ordered)), min(TIMELINE_BINS, len(ordered))) if len(span)]
    fired = ordered["fired"]
    return {
        "times": [round(float(ordered["time"][span[-1]]), 3) for span in spans],
        "passages": [len(span) for span in spans],
        "alert_rates": {
            label: [round(float(fired[span, j].mean()), 6) for span in spans] for j, label in enumerate(labels)
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class _Flusher:
    """One daemon thread per process flushing every live monitor every `FLUSH_SECONDS`."""

    def __init__(self):
        self.monitors: weakref.WeakSet = weakref.WeakSet()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)

    def add(self, monitor: Monitor) -> None:
        with self.lock:
            self.monitors.add(monitor)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="hta-monitor-flush", daemon=True)
                self.thread.start()

    def _forked(self) -> None:
        self.lock = threading.Lock()
        self.thread = None
        if len(self.monitors):
            self.thread = threading.Thread(target=self._run, name="hta-monitor-flush", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            for monitor in list(self.monitors):
                try:
                    monitor.flush()
                except Exception:  # a counting fault must never stop the thread; the next flush goes on
                    log.exception("monitor flush failed")


_FLUSHER = _Flusher()
