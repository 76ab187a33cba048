"""`python -m service.jobs JOB_ID ...`: one retrain job, in its own OS process (started by POST /v1/retrain).

It trains on the base data (the bundled corpus or HTA_RETRAIN_DATA) plus the exported feedback, writes
the candidate version without making it current, compares its held-out metrics with the current
version's (the split is the same fixed grouped split for every version) and promotes it with an atomic
switch of models/CURRENT only when the gate passes. State, progress, metrics and the verdict go to the
SQLite job table. The process exits if the server that started it disappears.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from service.store import Store, now, pid_alive

log = logging.getLogger("service.jobs")


def gate(candidate: dict, current: dict | None, margin: float) -> dict:
    """The promotion verdict: macro-F1 must not fall and no label's recall may fall by more than `margin`."""
    if current is None:
        return {"promote": True, "reasons": ["no current model to compare with"], "checks": []}
    cand, cur = candidate["metrics"]["holdout"], current["metrics"]["holdout"]
    checks, reasons = [], []
    cand_f1, cur_f1 = cand["macro"]["f1"], cur["macro"]["f1"]
    ok = cand_f1 >= cur_f1 - 1e-9
    checks.append({"check": "macro_f1", "candidate": cand_f1, "current": cur_f1, "passed": ok})
    if not ok:
        reasons.append(f"macro-F1 fell from {cur_f1:.4f} to {cand_f1:.4f}")
    for label, cur_label in cur["labels"].items():
        cand_label = cand["labels"].get(label)
        if cand_label is None:
            checks.append(
                {"check": f"recall:{label}", "candidate": None, "current": cur_label["recall"], "passed": False}
            )
            reasons.append(f"label {label} is missing from the candidate")
            continue
        fall = cur_label["recall"] - cand_label["recall"]
        ok = fall <= margin + 1e-9
        checks.append(
            {
                "check": f"recall:{label}",
                "candidate": cand_label["recall"],
                "current": cur_label["recall"],
                "margin": margin,
                "passed": ok,
            }
        )
        if not ok:
            reasons.append(f"recall of {label} fell by {fall:.4f} (> {margin})")
    promote = not reasons
    return {
        "promote": promote,
        "reasons": reasons or ["macro-F1 did not fall and no recall fell beyond the margin"],
        "checks": checks,
        "compared_with": current.get("version"),
    }


def _watch(pid: int) -> None:
    while True:
        time.sleep(0.5)
        if not pid_alive(pid):
            log.error("server process %s is gone; abandoning the retrain job", pid)
            os._exit(3)


def run_job(
    job_id: str, *, db: Path, models_dir: Path, margin: float, cv: int = 5, n_jobs: int = 1, data: Path | None = None
) -> dict:
    """Run one retrain job to its end; returns the final job record."""
    from classifier.artifacts import read_manifest
    from classifier.config import CORPUS_PATH
    from classifier.versions import current_version, find_version, set_current
    from training.feedback import export_feedback
    from training.train import train_model

    store = Store(db)
    store.update_job(job_id, state="running", pid=os.getpid(), started=now())

    def say(message: str) -> None:
        store.add_progress(job_id, message)

    try:
        with tempfile.TemporaryDirectory(prefix="hta-retrain-") as tmp:
            feedback_path = Path(tmp) / "feedback.jsonl"
            rows = export_feedback(db, feedback_path)
            store.update_job(job_id, feedback_rows=rows)
            say(f"exported {rows} feedback rows")
            base = Path(data) if data else CORPUS_PATH
            version_dir = train_model(
                base,
                models_dir=models_dir,
                extra_data=[feedback_path] if rows else [],
                cv=cv,
                make_current=False,
                progress=say,
                n_jobs=n_jobs,
            )
        candidate = read_manifest(version_dir)
        store.update_job(
            job_id, candidate_version=candidate["version"], metrics={"candidate": candidate["metrics"]["holdout"]}
        )
        current_name = current_version(models_dir)
        current = read_manifest(find_version(models_dir, current_name)[0]) if current_name else None
        verdict = gate(candidate, current, margin)
        metrics = {
            "candidate": candidate["metrics"]["holdout"],
            "current": current["metrics"]["holdout"] if current else None,
        }
        if verdict["promote"]:
            set_current(models_dir, candidate["version"], chosen_by="gate")
            say(f"promoted {candidate['version']} (was {current_name})")
            store.update_job(job_id, state="succeeded", promoted=1, metrics=metrics, verdict=verdict, finished=now())
        else:
            say(f"rejected {candidate['version']}: {'; '.join(verdict['reasons'])}")
            store.update_job(job_id, state="rejected", metrics=metrics, verdict=verdict, finished=now())
    except Exception as exc:
        traceback.print_exc()
        store.update_job(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished=now())
    return store.get_job(job_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.jobs", description=__doc__)
    parser.add_argument("job_id")
    parser.add_argument("--db", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--margin", type=float, default=0.02)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--data")
    parser.add_argument("--watch-pid", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
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
    )
    print(json.dumps({"job": job["id"], "state": job["state"], "candidate": job["candidate_version"]}), file=sys.stderr)
    return 0 if job["state"] in ("succeeded", "rejected") else 1


if __name__ == "__main__":
    sys.exit(main())
