"""`python -m service.jobs JOB_ID ...`: one retrain job, in its own OS process (started by POST /v1/retrain).

It exports the feedback to a private temporary directory, trains a candidate on the base data (the
bundled corpus or HTA_RETRAIN_DATA) plus the feedback without making it current, and lets the gate
(`training.promotion`) score the current model and the candidate on the same rows: the base held-out
split and the feedback held-out set. The candidate is made current (an atomic switch of models/CURRENT)
only when the gate promotes it. State, progress, both models' figures on both sets, the test and the
verdict in words go to the SQLite job table. The temporary directory is removed on every exit path
(success, rejection, error, SIGTERM); the process exits if the server that started it disappears.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from classifier.config import positive_float, setting
from service.store import Store, now, pid_alive
from training.promotion import DEFAULT_MARGIN

log = logging.getLogger("service.jobs")
TEMP_PREFIX = "hta-retrain-"


def temp_prefix(job_id: str) -> str:
    """Prefix of a job's temporary directory (the reaper removes it when the job was killed)."""
    return f"{TEMP_PREFIX}{job_id}-"


class Terminated(BaseException):
    """Raised in the job when it receives SIGTERM, so that cleanup runs and the job is recorded as failed."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated(f"terminated by signal {signum} ({signal.Signals(signum).name})")


def _watch(pid: int) -> None:
    while True:
        time.sleep(0.5)
        if not pid_alive(pid):
            log.error("server process %s is gone; abandoning the retrain job", pid)
            os.kill(os.getpid(), signal.SIGTERM)  # through the handler: the temporary copy is removed
            return


def _same_training_data(candidate: dict, current: dict) -> bool:
    """Whether the candidate learned from exactly the data the current version did."""
    cand, cur = candidate.get("added_rows", {}), current.get("added_rows")
    if cur is None:  # stored before the gate recorded its inputs: compare the data's combined hash
        return cand.get("rows", 0) == 0 and cand.get("base_sha256") == current["training_data"]["sha256"]
    if (cand.get("base_sha256"), cand.get("sha256")) != (cur.get("base_sha256"), cur.get("sha256")):
        return False
    return not cand.get("rows") or cand.get("weight") == cur.get("weight")  # without added rows no weight applies


def run_job(
    job_id: str,
    *,
    db: Path,
    models_dir: Path,
    margin: float = DEFAULT_MARGIN,
    cv: int = 5,
    n_jobs: int = 1,
    data: Path | None = None,
    weight: float | None = None,
    threshold_weight: float | str | None = None,
) -> dict:
    """Run one retrain job to its end; returns the final job record.

    `weight` is each feedback row's sample weight (default: the `HTA_FEEDBACK_WEIGHT` setting).
    """
    weight = setting("FEEDBACK_WEIGHT") if weight is None else weight
    from classifier.artifacts import load_scorer, read_manifest
    from classifier.config import CORPUS_PATH
    from classifier.versions import current_version, find_version, set_current
    from training.feedback import export_feedback
    from training.holdout_model import load_holdout_scorer, refit_holdout_model
    from training.promotion import compare, gate_rows
    from training.train import train_model

    store = Store(db)
    store.update_job(job_id, state="running", pid=os.getpid(), started=now())

    def say(message: str) -> None:
        store.add_progress(job_id, message)

    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(job_id)))
    try:
        feedback_path = tmp / "feedback.jsonl"
        rows = export_feedback(db, feedback_path)
        store.update_job(job_id, feedback_rows=rows)
        say(f"exported {rows} feedback rows")
        base = Path(data) if data else CORPUS_PATH
        extra = feedback_path if rows else None
        version_dir = train_model(
            base,
            models_dir=models_dir,
            extra_data=[extra] if extra else [],
            extra_weight=weight,
            threshold_weight=threshold_weight,
            cv=cv,
            make_current=False,
            progress=say,
            n_jobs=n_jobs,
        )
        candidate = read_manifest(version_dir)
        store.update_job(job_id, candidate_version=candidate["version"])
        current_name = current_version(models_dir)
        current_scorer = current = None
        if current_name:
            current_dir = find_version(models_dir, current_name)[0]
            load_scorer(current_dir)  # verified like any version that is served
            current = read_manifest(current_dir)
            current_scorer = load_holdout_scorer(current_dir, current)
            if current_scorer is None:
                say(f"{current_name} has no stored held-out model: refitting its parameters on the base data")
                current_scorer = refit_holdout_model(current, base)
        candidate_scorer = load_holdout_scorer(version_dir, candidate)
        base_rows, feedback_rows = gate_rows(base, extra, list(candidate["labels"]))
        say(f"gate: scoring both models on {len(base_rows)} base held-out rows and {len(feedback_rows)} "
            "held-out feedback rows")  # fmt: skip
        metrics, verdict = compare(
            current_scorer,
            candidate_scorer,
            base_rows,
            feedback_rows,
            learned_something_new=current is None or not _same_training_data(candidate, current),
            margin=margin,
        )
        verdict["compared_with"] = current_name
        verdict["feedback_weight"] = weight
        if verdict["promote"]:
            set_current(models_dir, candidate["version"], chosen_by="gate")
            say(f"promoted {candidate['version']} (was {current_name})")
            store.update_job(job_id, state="succeeded", promoted=1, metrics=metrics, verdict=verdict, finished=now())
        else:
            say(f"kept {current_name}; {verdict['decision']}")
            store.update_job(job_id, state="rejected", metrics=metrics, verdict=verdict, finished=now())
    except Terminated as exc:
        store.update_job(job_id, state="failed", error=str(exc), finished=now())
    except Exception as exc:
        traceback.print_exc()
        store.update_job(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished=now())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return store.get_job(job_id)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the job process."""
    parser = argparse.ArgumentParser(prog="python -m service.jobs", description=__doc__)
    parser.add_argument("job_id")
    parser.add_argument("--db", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"largest base macro-F1 fall the gate tolerates beyond noise (default {DEFAULT_MARGIN})",
    )
    parser.add_argument(
        "--weight",
        type=positive_float,
        help="sample weight of each feedback row in training (default: HTA_FEEDBACK_WEIGHT)",
    )
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--data")
    parser.add_argument("--watch-pid", type=int)
    args = parser.parse_args(argv)  # fmt: skip
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    if args.watch_pid:
        threading.Thread(target=_watch, args=(args.watch_pid,), daemon=True).start()
    job = run_job(
        args.job_id,
        db=Path(args.db),
        models_dir=Path(args.models_dir),
        margin=args.margin,
        cv=args.cv,
        n_jobs=args.n_jobs,
        data=Path(args.data) if args.data else None,
        weight=args.weight,
    )
    print(json.dumps({"job": job["id"], "state": job["state"], "candidate": job["candidate_version"]}), file=sys.stderr)
    return 0 if job["state"] in ("succeeded", "rejected") else 1


if __name__ == "__main__":
    sys.exit(main())
