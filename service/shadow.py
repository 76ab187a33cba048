"""Shadow runs: a second model version scores a share of live traffic beside the served one, off the request.

``POST /v1/models/<version>/shadow`` (admin) writes the run into ``HTA_SHADOW_FILE`` (``$HTA_HOME/shadow.json``,
atomically, under a lock so two workers cannot start two runs). Every worker re-reads it at most once a
second; while a run is on, a predict request is offered with probability ``share``: its texts, sources and
the served version's per-passage decisions go onto a bounded queue with ``put_nowait`` (a full queue drops
the work and counts it in ``hta_shadow_dropped_total``; the answer never waits). The scorer, `ShadowScorer`,
takes them off the queue, scores the texts with the shadow version, compares each passage's decisions and
writes the run's figures (per label both alert rates, how often they disagree, sample passages where they
do) to ``shadow-progress.json`` beside the run file, which ``GET /v1/shadow`` reads.

Under gunicorn the scorer is a process of its own, started by the master before the workers fork (they
inherit its queue), at the lowest CPU priority (nice 19): it takes no worker's GIL and the kernel runs the
workers first. Outside gunicorn (tests, `create_app` in a script) it is a thread of the app's process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from classifier.artifacts import write_json_atomic
from service import metrics

log = logging.getLogger("service.shadow")

MAX_SAMPLES = 20  # disagreeing passages kept, newest first
REFRESH_SECONDS = 1.0  # how stale a worker's view of the run may be
WRITE_SECONDS = 0.5  # how often the scorer writes its figures
PROGRESS_FILE = "shadow-progress.json"
# Set in gunicorn's master by `start_process` before the workers fork; None: the app's own thread.
PROCESS_QUEUE = None


def _storage_error(path: Path, exc: OSError):
    """The JSON error of a run file that cannot be written (a full disk 507, anything else 503)."""
    from service.store import StorageError

    full = exc.errno == errno.ENOSPC
    return StorageError(
        507 if full else 503,
        "storage_full" if full else "storage_error",
        f"the shadow run file {path} cannot be written: {exc.strerror or exc}",
    )


class ShadowRunning(Exception):
    """A shadow run is already on."""

    def __init__(self, run: dict):
        super().__init__(run["version"])
        self.run = run


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when it is missing or unreadable (a torn write is never seen:
    both files are replaced atomically)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Shadow:
    """One app's side of shadow runs: starting and stopping them, offering requests, reading the figures."""

    def __init__(self, config):
        self.path = Path(config["SHADOW_FILE"])
        self.progress_path = self.path.with_name(PROGRESS_FILE)
        self.queue_size = config["SHADOW_QUEUE"]
        self.models_dir = config["MODELS_DIR"]
        self.bundled = config.get("BUNDLED_MODELS_DIR")
        self._run: dict | None = None
        self._labels: tuple = ()
        self._next_check = 0.0
        self._queue = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ request path

    def offer(self, predictor, texts: list[str], sources: list | None, observed: tuple) -> None:
        """Queue a request for the shadow version with the run's probability; never waits."""
        now = time.monotonic()
        if now >= self._next_check:
            self._refresh(now)
        run = self._run
        if run is None or random.random() >= run["share"] or predictor.labels != self._labels:
            return
        try:
            self._work_queue().put_nowait((run["id"], predictor.version, texts, sources, observed[1]))
        except queue.Full:
            metrics.SHADOW_DROPPED.inc()

    def _refresh(self, now: float) -> None:
        self._next_check = now + REFRESH_SECONDS
        run = read_json(self.path)
        if run is not None and run.get("stopped") is None:
            progress = read_json(self.progress_path) or {}
            self._run = None if progress.get("run") == run["id"] and progress.get("done") else run
            self._labels = tuple(run.get("labels") or ())
        else:
            self._run = None

    def _work_queue(self):
        if PROCESS_QUEUE is not None:
            return PROCESS_QUEUE
        with self._lock:
            if self._queue is None:  # the app's own scorer thread (no gunicorn master started a process)
                self._queue = queue.Queue(maxsize=self.queue_size)
                scorer = ShadowScorer(self.path, self.models_dir, self.bundled)
                threading.Thread(target=scorer.run, args=(self._queue,), name="hta-shadow", daemon=True).start()
            return self._queue

    # ------------------------------------------------------------------------------------------ routes

    def start(self, version: str, share: float, passages: int | None, labels, current_version: str) -> dict:
        """Record a new run of `version` beside the served `current_version` (both scoring `labels`);
        `ShadowRunning` when one is on."""
        try:
            return self._start(version, share, passages, labels, current_version)
        except OSError as exc:
            raise _storage_error(self.path, exc) from exc

    def _start(self, version: str, share: float, passages: int | None, labels, current_version: str) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.current()
            if current is not None and current["state"] == "running":
                raise ShadowRunning(current["run"])
            run = {
                "id": f"{version}@{time.time_ns()}",
                "version": version,
                "share": share,
                "passages": passages,
                "started": _now(),
                "stopped": None,
                "labels": list(labels),
                "current_version": current_version,
            }
            write_json_atomic(self.path, run)
        self._next_check = 0.0
        return run

    def stop(self) -> dict | None:
        """Stop the running run; returns it, or None when none runs."""
        if not self.path.exists():
            return None
        try:
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.current()
                if current is None or current["state"] != "running":
                    return None
                run = {**current["run"], "stopped": _now()}
                write_json_atomic(self.path, run)
        except OSError as exc:
            raise _storage_error(self.path, exc) from exc
        self._next_check = 0.0
        return run

    def current(self) -> dict | None:
        """The last run and its figures (None: no run was ever started here)."""
        run = read_json(self.path)
        if run is None:
            return None
        progress = read_json(self.progress_path) or {}
        if progress.get("run") != run["id"]:
            progress = {}
        state = "stopped" if run.get("stopped") else "done" if progress.get("done") else "running"
        return {
            "state": state,
            "run": run,
            "passages": progress.get("passages", 0),
            "requests": progress.get("requests", 0),
            "dropped_requests": metrics.counter_value("hta_shadow_dropped"),
            "skipped_requests": progress.get("skipped", 0),
            "labels": progress.get("labels", {}),
            "samples": progress.get("samples", []),
        }


def shadow_and_wait(
    path: Path,
    version: str,
    current_version: str,
    labels,
    passages: int,
    share: float,
    timeout: float,
    poll: float = 1.0,
) -> dict:
    """Start a shadow run of `version` for `passages` passages and wait for it (a retrain job before promotion);
    returns `Shadow.current()`'s comparison with ``complete`` (and ``reason`` when it is not)."""
    shadow = Shadow({"SHADOW_FILE": path, "SHADOW_QUEUE": 1, "MODELS_DIR": None})
    try:
        run = shadow.start(version, share, passages, labels, current_version)
    except ShadowRunning as exc:
        return {"complete": False, "passages": 0, "reason": f"a shadow run of {exc.run['version']} was running"}
    deadline = time.monotonic() + timeout
    while True:
        report = shadow.current() or {}
        if report.get("run", {}).get("id") != run["id"] or report["state"] == "stopped":
            return {**report, "complete": False, "reason": "the shadow run was stopped or replaced"}
        if report["state"] == "done":
            return {**report, "complete": True}
        if time.monotonic() >= deadline:
            shadow.stop()
            return {**shadow.current(), "complete": False, "reason": f"timed out after {timeout:g} s"}
        time.sleep(poll)


class ShadowScorer:
    """Scores queued requests with the run's version and keeps the comparison (one per server)."""

    def __init__(self, path: Path, models_dir, bundled):
        self.path = Path(path)
        self.progress_path = self.path.with_name(PROGRESS_FILE)
        self.models_dir, self.bundled = models_dir, bundled
        self._predictor = None
        self._figures: dict | None = None
        self._written = 0.0

    def run(self, work) -> None:
        """Take work off `work` (a queue) for ever."""
        while True:
            try:
                item = work.get(timeout=WRITE_SECONDS)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    self.score(*item)
                if self._figures is not None and time.monotonic() - self._written >= WRITE_SECONDS:
                    self._write()
            except Exception:  # one bad item must not stop the scorer
                log.exception("shadow scoring failed")

    def _for_run(self, run_id: str) -> dict | None:
        figures = self._figures
        if figures is not None and figures["run"] == run_id:
            return figures
        run = read_json(self.path)
        if run is None or run.get("id") != run_id or run.get("stopped"):
            return None
        from classifier.predictor import Predictor
        from classifier.versions import find_version

        self._predictor = Predictor.load(find_version(self.models_dir, run["version"], self.bundled)[0])
        labels = self._predictor.labels
        self._figures = {
            "run": run_id,
            "limit": run.get("passages"),
            "passages": 0,
            "requests": 0,
            "skipped": 0,
            "done": False,
            "counts": {label: [0, 0, 0] for label in labels},  # current alerts, shadow alerts, disagreements
            "samples": deque(maxlen=MAX_SAMPLES),
        }
        return self._figures

    def score(self, run_id: str, live_version: str, texts: list[str], sources, live_decided: list) -> None:
        """Score one request's texts with the shadow version and count how its decisions differ."""
        figures = self._for_run(run_id)
        if figures is None or figures["done"]:
            return
        predictor = self._predictor
        observed: list = []
        named = sources is not None and any(s is not None for s in sources)
        predictor.score_documents(texts, "always", source=sources if named else None, observed=observed)
        scores, decided, _codes, read, _sources = observed[0]
        if len(decided) != len(live_decided):  # another segmentation (a shadow of other code): not comparable
            figures["skipped"] += 1
            return
        counts, labels = figures["counts"], predictor.labels
        passage_texts = None
        for i, ok in enumerate(read):
            if not ok:
                continue
            figures["passages"] += 1
            for j, label in enumerate(labels):
                live, shadow = bool(live_decided[i][j]), bool(decided[i][j])
                counts[label][0] += live
                counts[label][1] += shadow
                if live != shadow:
                    counts[label][2] += 1
                    if passage_texts is None:
                        from classifier.segment import segment

                        passage_texts = [p.text for text in texts for p in segment(text)]
                    figures["samples"].appendleft(
                        {"text": passage_texts[i], "label": label, "current": live, "shadow": shadow,
                         "shadow_score": scores[i][j], "current_version": live_version}
                    )  # fmt: skip
        figures["requests"] += 1
        limit = figures["limit"]
        if limit is not None and figures["passages"] >= limit:
            figures["done"] = True
            self._write()

    def _write(self) -> None:
        figures = self._figures
        n = figures["passages"]
        labels = {
            label: {
                "current_alerts": live,
                "shadow_alerts": shadow,
                "current_alert_rate": round(live / n, 6) if n else None,
                "shadow_alert_rate": round(shadow / n, 6) if n else None,
                "disagreements": differ,
                "disagreement_rate": round(differ / n, 6) if n else None,
            }
            for label, (live, shadow, differ) in figures["counts"].items()
        }
        progress = {key: figures[key] for key in ("run", "passages", "requests", "skipped", "done")}
        progress.update(labels=labels, samples=list(figures["samples"]), updated=_now())
        with contextlib.suppress(OSError):  # a full disk: the next write tries again
            write_json_atomic(self.progress_path, progress)
        self._written = time.monotonic()


def start_process(config, server=None) -> int:
    """Fork the server's shadow scorer process (gunicorn's master, before the workers fork: they inherit its
    queue); returns its pid. The child drops the master's listening sockets and signal handlers, asks to die
    with the master and runs at the lowest CPU priority."""
    import multiprocessing
    import signal

    global PROCESS_QUEUE
    PROCESS_QUEUE = multiprocessing.get_context("fork").Queue(maxsize=config["SHADOW_QUEUE"])
    pid = os.fork()
    if pid:
        return pid
    try:
        from service.gunicorn_conf import die_with_parent

        for listener in getattr(server, "LISTENERS", []) or []:
            listener.close()
        for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCHLD",
                     "SIGTTIN", "SIGTTOU"):  # fmt: skip
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        die_with_parent()
        with contextlib.suppress(OSError):
            os.nice(19)  # the workers answer first; the shadow uses what CPU is left
        ShadowScorer(Path(config["SHADOW_FILE"]), config["MODELS_DIR"], config.get("BUNDLED_MODELS_DIR")).run(
            PROCESS_QUEUE
        )
    finally:
        os._exit(0)
