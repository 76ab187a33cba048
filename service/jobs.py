"""`python -m service.jobs JOB_ID --settings JSON`: one retrain job, in its own OS process (started by
`service.retrain` for POST /v1/retrain and Label Studio's START_TRAINING).

The job records, it does not train: it reads the feedback from the store once (either engine) and
`training.retrain.run_retrain` trains, gates and publishes through the store's pointer; this module turns
what it reports into the job's row of the job table (state, progress, the feedback rows, the candidate, both
models' figures and the verdict in words) and records a failure, SIGTERM included, as the job's end. The
process exits if the server that started it disappears.

With PostgreSQL (the store's URL in ``HTA_JOB_DATABASE_URL``) the job first takes the cluster's retrain
lock, a session advisory lock held until the process ends (a second job anywhere fails at once instead of
training beside it), and records a heartbeat every third of ``--heartbeat`` seconds, by which the other
instances tell that it is alive.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback

from service.database import RETRAIN_LOCK
from service.store import StorageError, Store, now, pid_alive
from training import RetrainSettings, resolved_view, run_retrain

log = logging.getLogger("service.jobs")


class Terminated(BaseException):
    """Raised in the job when it receives SIGTERM, so that the job is recorded as failed."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated(f"terminated by signal {signum} ({signal.Signals(signum).name})")


def _watch(pid: int) -> None:
    while True:
        time.sleep(0.5)
        if not pid_alive(pid):
            log.error("server process %s is gone; abandoning the retrain job", pid)
            os.kill(os.getpid(), signal.SIGTERM)  # through the handler: the job is recorded as failed
            return


class JobReport:
    """A `training.retrain.RetrainReport` that writes into the job's row."""

    def __init__(self, store: Store, job_id: str):
        self.store, self.job_id = store, job_id

    def progress(self, message: str) -> None:
        """Append a progress line."""
        self.store.add_progress(self.job_id, message)

    def feedback_read(self, rows: int) -> None:
        """Record how many feedback rows the job trains on."""
        self.store.update_job(self.job_id, feedback_rows=rows)

    def candidate_written(self, version: str) -> None:
        """Record the candidate's version."""
        self.store.update_job(self.job_id, candidate_version=version)

    def shadow(self, candidate: str, current: str, labels: list[str], settings: RetrainSettings) -> dict:
        """Shadow the candidate on live traffic (the server's shadow run file) and wait for its passages."""
        from service.shadow import shadow_and_wait

        if settings.shadow_file is None:
            return {"complete": False, "passages": 0, "reason": "no shadow run file configured"}
        return shadow_and_wait(settings.shadow_file, candidate, current, labels, settings.shadow_passages,
                               settings.shadow_share, settings.shadow_timeout)  # fmt: skip


def _beat(store: Store, job_id: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            store.heartbeat(job_id)
        except StorageError as exc:  # the database is away for a moment: the next beat may pass
            log.warning("heartbeat of job %s not recorded: %s", job_id, exc.message)


def run_job(
    job_id: str,
    settings: RetrainSettings,
    database: str | None = None,
    heartbeat_seconds: float = 30.0,
    instance: str | None = None,
) -> dict:
    """Run one retrain job to its end and record it; returns the final job record.

    `database` is the store's URL (default: the SQLite file of `settings.feedback_db`)."""
    from service.pointer import pointer_of

    store = Store(database or settings.feedback_db, heartbeat_seconds=heartbeat_seconds, instance=instance)
    with store.engine.try_lock(RETRAIN_LOCK) as locked:
        if not locked:
            store.update_job(job_id, state="failed", finished=now(),
                             error="another retrain job holds the cluster's retrain lock")  # fmt: skip
            return store.get_job(job_id)
        stop = threading.Event()
        store.update_job(job_id, state="running", pid=os.getpid(), started=now(), heartbeat=now(),
                         instance=store.instance)  # fmt: skip
        beat = threading.Thread(target=_beat, args=(store, job_id, heartbeat_seconds / 3, stop), daemon=True)
        beat.start()
        try:
            return _run(store, job_id, settings, pointer_of(store, settings.models_dir))
        finally:
            stop.set()


def _run(store: Store, job_id: str, settings: RetrainSettings, pointer) -> dict:
    try:
        feedback = resolved_view(store.passages())  # read once, from the store of either engine
        outcome = run_retrain(settings, JobReport(store, job_id), feedback=feedback, pointer=pointer)
        state = "succeeded" if outcome.promoted else "rejected"
        store.update_job(job_id, state=state, promoted=int(outcome.promoted), metrics=outcome.metrics,
                         verdict=outcome.verdict, finished=now())  # fmt: skip
    except Terminated as exc:
        store.update_job(job_id, state="failed", error=str(exc), finished=now())
    except Exception as exc:
        traceback.print_exc()
        store.update_job(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished=now())
    return store.get_job(job_id)


def _settings(text: str) -> RetrainSettings:
    try:
        return RetrainSettings.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the job process."""
    parser = argparse.ArgumentParser(prog="python -m service.jobs", description=__doc__)
    parser.add_argument("job_id")
    parser.add_argument("--settings", type=_settings, required=True,
                        help="the retrain settings as JSON (training.retrain.RetrainSettings.to_json)")  # fmt: skip
    parser.add_argument("--watch-pid", type=int)
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds (HTA_JOB_HEARTBEAT_SECONDS)")
    parser.add_argument("--instance", help="the instance running the job (HTA_INSTANCE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    if args.watch_pid:
        threading.Thread(target=_watch, args=(args.watch_pid,), daemon=True).start()
    job = run_job(args.job_id, args.settings, os.environ.get("HTA_JOB_DATABASE_URL"), args.heartbeat, args.instance)
    print(json.dumps({"job": job["id"], "state": job["state"], "candidate": job["candidate_version"]}), file=sys.stderr)
    return 0 if job["state"] in ("succeeded", "rejected") else 1


if __name__ == "__main__":
    sys.exit(main())
