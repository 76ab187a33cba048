"""Simulation of the feedback loop on a source the model never saw, through the real retrain job and gate.

For each chosen corpus source (leave-one-source-out; the sealed gold set is never used): the current model
is trained on the other sources (`training.train.train_model`); the source's documents are split in half
(seeded); `--k` passages of the first half, picked by the selection default, are posted as feedback with
their corpus labels and their document ids (`service.store.Store.add_feedback`); the retrain job
(`service.jobs.run_job`) trains a candidate and the gate decides; both shipped models are then scored on
the source's second half. Prints one line per source and the gate's verdict.
Usage: python bench/feedback_simulation.py [--sources a,b] [--k 200] [--cv 3] [--base-rows N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from classifier.config import CORPUS_PATH, DEFAULT_LABELS
from classifier.predictor import Predictor
from service.jobs import run_job
from service.store import Store
from training.select import DEFAULT_STRATEGY, select
from training.train import train_model


def macro_f1(predictor: Predictor, rows: list[dict]) -> float:
    """Macro-F1 of the predictor's labels on labelled rows."""
    Y = np.array([[label in r["labels"] for label in DEFAULT_LABELS] for r in rows], dtype=int)
    found = predictor.predict_texts([r["text"] for r in rows])
    P = np.array([[label in f["labels"] for label in DEFAULT_LABELS] for f in found], dtype=int)
    return float(f1_score(Y, P, average="macro", zero_division=0))


def simulate(rows: list[dict], source: str, k: int, cv: int, base_rows: int, seed: int, work: Path) -> dict:
    """One source: train without it, post k picks as feedback, retrain through the gate, score both models."""
    others = [r for r in rows if r["source"] != source]
    if base_rows and len(others) > base_rows:
        others = [others[i] for i in sorted(np.random.default_rng(0).choice(len(others), base_rows, replace=False))]
    base = work / f"base-{source}.jsonl"
    base.write_text("".join(json.dumps(r) + "\n" for r in others), encoding="utf-8")
    models = work / f"models-{source}"
    train_model(base, models_dir=models, cv=cv, n_jobs=1, progress=None)
    current = Predictor.load(models_dir=models)
    in_source = [r for r in rows if r["source"] == source]
    docs = sorted({r["doc"] for r in in_source})
    first = {docs[i] for i in np.random.default_rng(seed).permutation(len(docs))[: len(docs) // 2]}
    pool = [r for r in in_source if r["doc"] in first]
    test = [r for r in in_source if r["doc"] not in first]
    picks = select(current, pool, k, DEFAULT_STRATEGY, seed)
    store = Store(work / f"{source}.sqlite3").init()
    store.add_feedback([{"text": p["text"], "labels": p["labels"], "document_id": p["doc"]} for p in picks])
    job = run_job(store.create_job(current.version), db=store.path, models_dir=models, cv=cv, data=base)
    served = Predictor.load(models_dir=models)
    candidate = Predictor.load(models / job["candidate_version"]) if job["candidate_version"] else current
    return {
        "source": source,
        "state": job["state"],
        "error": job["error"],
        "decision": (job["verdict"] or {}).get("decision"),
        "served_is_candidate": served.version == job["candidate_version"],
        "current_f1": macro_f1(current, test),
        "candidate_f1": macro_f1(candidate, test),
        "test_rows": len(test),
    }


def main() -> None:
    """Run the simulation for each source and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", default="eu_official_journal,kremlin_ru,president_gov_ua,us_presidency,"
                        "wikipedia_current_events")  # fmt: skip
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--base-rows", type=int, default=0, help="train on this many rows of the other sources")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    print(f"{'source':<26}{'verdict':>10}{'current':>9}{'candidate':>11}{'rows':>6}")
    with tempfile.TemporaryDirectory(prefix="hta-simulation-") as tmp:
        for source in args.sources.split(","):
            r = simulate(rows, source, args.k, args.cv, args.base_rows, args.seed, Path(tmp))
            print(f"{source:<26}{r['state']:>10}{r['current_f1']:>9.3f}{r['candidate_f1']:>11.3f}{r['test_rows']:>6}")
            print(f"  {r['decision'] or r['error']}", flush=True)
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
