"""Starting a retrain job: one gated path for every trigger (`POST /v1/retrain`, Label Studio's START_TRAINING).

The service's settings become one `training.RetrainSettings` (`retrain_settings`), handed to
``python -m service.jobs`` in its own OS process as JSON; a daemon thread reaps the process when it exits
and records how it ended if the job could not.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping

from classifier.artifacts import ArtifactError
from service import metrics
from service.pointer import pointer_of
from service.store import StorageError, Store, now
from training import RetrainSettings

log = logging.getLogger(__name__)


def start_retrain(config: Mapping, store: Store, shadow: int = 0) -> dict:
    """Record a queued job and start its process; returns the job record.

    Raises `service.store.RetrainRunning` when a job is already queued or running, and `OSError`
    (after marking the job failed) when the process cannot be started. Settings a retrain cannot run with
    (`HTA_RETRAIN_CV=1`, say) end the job as failed at once, the message naming the setting. With `shadow`,
    a candidate the gate passes is shadowed on that many live passages before it is promoted.
    """
    try:
        base = pointer_of(store, config["MODELS_DIR"]).current()  # CURRENT, or the database's row
    except ArtifactError:
        base = None
    job_id = store.create_job(base)
    try:
        start_job_process(job_id, config, store, shadow)
    except ValueError as exc:
        store.update_job(job_id, state="failed", error=f"invalid retrain settings: {exc}", finished=now())
        return store.get_job(job_id)
    except OSError as exc:
        store.update_job(job_id, state="failed", error=f"could not start: {exc}")
        raise
    metrics.RETRAINS.inc()
    return store.get_job(job_id)


def retrain_settings(config: Mapping, shadow: int = 0) -> RetrainSettings:
    """The retrain settings of the service's configuration (`service.config.SETTINGS` holds their defaults),
    shadowing the candidate on `shadow` live passages before promotion."""
    return RetrainSettings(
        feedback_db=config["FEEDBACK_DB"],
        models_dir=config["MODELS_DIR"],
        base_data=config.get("RETRAIN_DATA"),
        gate_margin=config["GATE_MARGIN"],
        feedback_weight=config["FEEDBACK_WEIGHT"],
        cv=config["RETRAIN_CV"],
        n_jobs=config["RETRAIN_PROCESSES"],
        crossfit_folds=config["RETRAIN_CROSSFIT_FOLDS"],
        source_threshold_labels=config["SOURCE_THRESHOLD_LABELS"],
        shadow_passages=shadow,
        shadow_rate_jump=config["GATE_SHADOW_RATE_JUMP"],
        shadow_file=config["SHADOW_FILE"],
        shadow_share=config["SHADOW_SHARE"],
        shadow_timeout=config["RETRAIN_SHADOW_TIMEOUT"],
    )


def start_job_process(job_id: str, config: Mapping, store: Store, shadow: int = 0) -> subprocess.Popen:
    """Start ``python -m service.jobs`` for `job_id` in its own OS process."""
    from service.database import database_url

    settings = json.dumps(retrain_settings(config, shadow).to_json())
    watch = os.environ.get("HTA_SERVER_PID", str(os.getpid()))
    command = [sys.executable, "-m", "service.jobs", job_id, "--settings", settings, "--watch-pid", watch]
    if store.kind != "sqlite":  # the job reads and writes the same database (its URL through the environment,
        # not the command line, where a password would show in `ps`)
        command += ["--heartbeat", str(config["JOB_HEARTBEAT_SECONDS"]), "--instance", store.instance]
    environment = {**os.environ, "HTA_JOB_DATABASE_URL": database_url(config)}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, close_fds=True, env=environment)
    store.update_job(job_id, pid=process.pid)
    threading.Thread(target=reap, args=(process, job_id, store), name=f"reap-{job_id}", daemon=True).start()
    return process


def exit_description(returncode: int) -> str:
    """How a job process ended, in words: a signal by number and name (SIGKILL: the OOM killer's), or a code."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        hint = ": out of memory?" if number == signal.SIGKILL else ""
        return f"killed by signal {number} ({name}){hint}"
    return f"exited with code {returncode}"


def reap(process: subprocess.Popen, job_id: str, store: Store) -> None:
    """Wait for a job process; if it died without recording an end (a signal, the OOM killer, a crash),
    record how it ended."""
    returncode = process.wait()
    try:
        job = store.get_job(job_id)
        if job is not None and job["state"] in ("queued", "running"):
            store.update_job(job_id, state="failed", error=exit_description(returncode), finished=now())
    except StorageError as exc:  # the database went away or broke meanwhile: say so
        log.warning("retrain job %s %s, but its end could not be recorded: %s", job_id,
                    exit_description(returncode), exc.message)  # fmt: skip
