"""Simulation of the feedback loop on a source the model never saw, through the real retrain job and gate.

For each chosen corpus source (leave-one-source-out; the sealed gold set is never used): the current model
is trained on the other sources (`training.train.train_model`); the source's documents are split in half
(seeded); `--k` passages of the first half, picked by the selection default, are posted as feedback with
their corpus labels and their document ids (`service.store.Store.add_feedback`); the retrain job
(`service.jobs.run_job`) trains a candidate and the gate decides; both shipped models are then scored on
the source's second half. With several `--weights` (sample weights of the feedback rows) or
`--threshold-weights` (their weight in the threshold choice: a number, `same` as the training weight, or
`balanced`: the feedback rows together weigh as much as the base development rows), every combination is
retrained from the same current model and the same feedback. Prints one line per source and variant, the gate's
verdict, and the mean per variant.
Usage: python bench/feedback_simulation.py [--sources a,b] [--k 200] [--cv 3] [--base-rows N] [--weights 1,3]
                                           [--threshold-weights same,balanced]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from classifier.config import CORPUS_PATH, DEFAULT_LABELS
from classifier.predictor import Predictor
from service.config import load_config
from service.jobs import run_job
from service.store import Store
from training import RetrainSettings
from training.select import DEFAULT_STRATEGY, select
from training.train import train_model


def macro_f1(predictor: Predictor, rows: list[dict]) -> float:
    """Macro-F1 of the predictor's labels on labelled rows."""
    Y = np.array([[label in r["labels"] for label in DEFAULT_LABELS] for r in rows], dtype=int)
    found = predictor.predict_texts([r["text"] for r in rows])
    P = np.array([[label in f["labels"] for label in DEFAULT_LABELS] for f in found], dtype=int)
    return float(f1_score(Y, P, average="macro", zero_division=0))


def simulate(
    rows: list[dict], source: str, k: int, cv: int, base_rows: int, seed: int, work: Path, variants: list[tuple]
) -> list[dict]:
    """One source: train without it, post k picks as feedback, retrain through the gate once per (weight,
    threshold weight) variant, score both models; one result per variant."""
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
    current_f1 = macro_f1(current, test)
    results = []
    for weight, threshold_weight in variants:
        variant_models = work / f"models-{source}-{weight}-{threshold_weight}"
        shutil.copytree(models, variant_models)
        store = Store(work / f"{source}-{weight}-{threshold_weight}.sqlite3").init()
        store.add_feedback([{"text": p["text"], "labels": p["labels"], "document_id": p["doc"]} for p in picks])
        settings = RetrainSettings(
            feedback_db=store.path,
            models_dir=variant_models,
            base_data=base,
            gate_margin=load_config()["GATE_MARGIN"],
            feedback_weight=weight,
            cv=cv,
            n_jobs=1,
            threshold_weight=None if threshold_weight == "same" else threshold_weight,
        )
        job = run_job(store.create_job(current.version), settings)
        served = Predictor.load(models_dir=variant_models)
        candidate = Predictor.load(variant_models / job["candidate_version"]) if job["candidate_version"] else current
        results.append({
            "source": source,
            "weight": weight,
            "threshold_weight": threshold_weight,
            "state": job["state"],
            "error": job["error"],
            "decision": (job["verdict"] or {}).get("decision"),
            "verdict": job["verdict"],
            "served_is_candidate": served.version == job["candidate_version"],
            "current_f1": current_f1,
            "candidate_f1": macro_f1(candidate, test),
            "candidate_label_f1": label_f1(candidate, test),
            "test_rows": len(test),
        })  # fmt: skip
    return results


def label_f1(predictor: Predictor, rows: list[dict]) -> list[float]:
    """F1 of each label of the predictor on labelled rows."""
    Y = np.array([[label in r["labels"] for label in DEFAULT_LABELS] for r in rows], dtype=int)
    found = predictor.predict_texts([r["text"] for r in rows])
    P = np.array([[label in f["labels"] for label in DEFAULT_LABELS] for f in found], dtype=int)
    return [round(float(v), 4) for v in f1_score(Y, P, average=None, zero_division=0)]


def main() -> None:
    """Run the simulation for each source and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", default="eu_official_journal,kremlin_ru,president_gov_ua,us_presidency,"
                        "wikipedia_current_events")  # fmt: skip
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--base-rows", type=int, default=0, help="train on this many rows of the other sources")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default="1", help="sample weights of the feedback rows to try (default 1)")
    parser.add_argument(
        "--threshold-weights",
        default="same",
        help="feedback rows' weight in the threshold choice: numbers, same, balanced (default same)",
    )
    parser.add_argument("--json", help="also write every result to this JSON file")
    args = parser.parse_args()
    threshold_weights = [t if t in ("same", "balanced") else float(t) for t in args.threshold_weights.split(",")]
    variants = [(float(w), t) for w in args.weights.split(",") for t in threshold_weights]
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    print(f"{'source':<26}{'weight':>7}{'thr. weight':>12}{'verdict':>10}{'current':>9}{'candidate':>11}{'rows':>6}")
    results = []
    with tempfile.TemporaryDirectory(prefix="hta-simulation-") as tmp:
        for source in args.sources.split(","):
            for r in simulate(rows, source, args.k, args.cv, args.base_rows, args.seed, Path(tmp), variants):
                results.append(r)
                print(f"{source:<26}{r['weight']:>7g}{r['threshold_weight']!s:>12}{r['state']:>10}"
                      f"{r['current_f1']:>9.3f}{r['candidate_f1']:>11.3f}{r['test_rows']:>6}")  # fmt: skip
                print(f"  {r['decision'] or r['error']}", flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print("\nMean over sources (macro-F1 on the second halves; promoted):")
    for weight, threshold_weight in variants:
        mine = [r for r in results if (r["weight"], r["threshold_weight"]) == (weight, threshold_weight)]
        gain = np.mean([r["candidate_f1"] - r["current_f1"] for r in mine])
        promoted = sum(r["state"] == "succeeded" for r in mine)
        mean = np.mean([r["candidate_f1"] for r in mine])
        print(f"  weight {weight:g}, thresholds {threshold_weight}: candidate {mean:.3f} (gain {gain:+.3f}), "
              f"promoted {promoted}/{len(mine)}")  # fmt: skip
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
