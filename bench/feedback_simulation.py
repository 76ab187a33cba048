"""Simulation of the feedback loop on a source the model never saw, through the real retrain job and gate,
against `python -m training train --extra` on the same rows.

For each chosen corpus source (leave-one-source-out; the sealed gold set is never used) the current model is
trained on the other sources (`training.train.train_model`, as `python -m training train`); for each seed the
source's documents are split in half; `--k` passages of the first half (the pool), picked by the selection
default, become the labels; every variant then learns from those same labels, starting from the same current
model, and the model it ends with is scored (macro-F1) on the source's second half, which no model trained on:

- `extra`: `python -m training train --extra picks.jsonl` as before issue 21 (the picks as corpus rows,
  `unsure` flags and all; weight `HTA_FEEDBACK_WEIGHT`; no per-source thresholds), made current without a gate;
- `job...`: the picks posted as feedback (`service.store.Store.add_feedback`, with their document ids) and the
  service's retrain job run (`service.jobs.run_job`): what it serves afterwards is scored (the candidate when
  promoted, else the current model). The variants isolate one factor each:
  `job` as shipped before issue 21 (a hashed quarter of the feedback documents held out for the gate, weight 3,
  thresholds from corpus folds plus the feedback's training rows, unsure picks posted like any);
  `job-w1` weight 1; `job-unsure-out` the picks flagged unsure not posted; `job-crossfit` nothing held out,
  the gate judging cross-fitted predictions (`--crossfit-folds`); `job-source` per-source thresholds (the
  picks name their source, the second half is scored naming it) with the held-out share;
  `fixed` cross-fitting and per-source thresholds together (what the service runs now).

Prints one line per source, seed and variant, then the table of means (over sources and seeds) and per source.
Usage: python bench/feedback_simulation.py [--sources a,b] [--seeds 3] [--k 200] [--cv 2] [--base-rows N]
                                           [--variants extra,job,fixed] [--json out.json]
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

from classifier.config import CORPUS_PATH, DEFAULT_LABELS, setting
from classifier.predictor import Predictor
from service.config import load_config
from service.jobs import run_job
from service.store import Store
from training import RetrainSettings
from training.select import DEFAULT_STRATEGY, select
from training.train import train_model

SOURCES = "eu_official_journal,kremlin_ru,president_gov_ua,us_presidency,wikipedia_current_events"
# variant -> (feedback weight, crossfit folds (None: --crossfit-folds), source thresholds, post unsure picks)
JOB_VARIANTS = {
    "job": (3.0, 0, False, True),
    "job-w1": (1.0, 0, False, True),
    "job-unsure-out": (3.0, 0, False, False),
    "job-crossfit": (3.0, None, False, True),
    "job-source": (3.0, 0, True, True),
    "fixed": (3.0, None, True, True),
}
VARIANTS = ("extra", *JOB_VARIANTS)
ROW_FIELDS = ("id", "text", "labels", "source", "doc", "unsure", "lang")  # a pick as a corpus row


def label_matrix(rows: list[dict]) -> np.ndarray:
    """0/1 labels of rows in `DEFAULT_LABELS` order."""
    return np.array([[label in r["labels"] for label in DEFAULT_LABELS] for r in rows], dtype=int)


def macro_f1(predictor: Predictor, rows: list[dict], source: str | None = None) -> float:
    """Macro-F1 of the predictor's labels on labelled rows (each scored as one passage, naming `source`)."""
    found = predictor.predict_texts([r["text"] for r in rows], source=source)
    P = np.array([[label in f["labels"] for label in DEFAULT_LABELS] for f in found], dtype=int)
    return float(f1_score(label_matrix(rows), P, average="macro", zero_division=0))


def base_model(rows: list[dict], source: str, base_rows: int, cv: int, work: Path) -> tuple[Path, Path]:
    """(base data file, models directory with the current model) for `source`: trained without it."""
    others = [r for r in rows if r["source"] != source]
    if base_rows and len(others) > base_rows:
        others = [others[i] for i in sorted(np.random.default_rng(0).choice(len(others), base_rows, replace=False))]
    base = work / f"base-{source}.jsonl"
    base.write_text("".join(json.dumps(r) + "\n" for r in others), encoding="utf-8")
    models = work / f"models-{source}"
    train_model(base, models_dir=models, cv=cv, n_jobs=1, progress=None, plots=False)
    return base, models


def run_variant(variant: str, picks: list[dict], source: str, base: Path, models: Path, cv: int, crossfit: int,
                work: Path) -> tuple[Predictor, dict]:  # fmt: skip
    """Teach a copy of the current model the picks the variant's way; (the model it ends with, the job record)."""
    variant_models = work / f"models-{variant}"
    shutil.copytree(models, variant_models)
    if variant == "extra":
        extra = work / "picks.jsonl"
        extra.write_text("".join(json.dumps(p) + "\n" for p in picks), encoding="utf-8")
        version_dir = train_model(base, models_dir=variant_models, extra_data=[extra], cv=cv, n_jobs=1,
                                  extra_weight=setting("FEEDBACK_WEIGHT"), progress=None, plots=False,
                                  source_threshold_labels=0)  # fmt: skip
        return Predictor.load(version_dir), {"state": "trained", "verdict": None, "error": None}
    weight, folds, by_source, unsure_too = JOB_VARIANTS[variant]
    store = Store(work / f"{variant}.sqlite3").init()
    store.add_feedback([
        {"text": p["text"], "labels": p["labels"], "document_id": p["doc"],
         "document_source": source if by_source else None}
        for p in picks if unsure_too or not p.get("unsure")
    ])  # fmt: skip
    settings = RetrainSettings(
        feedback_db=store.path,
        models_dir=variant_models,
        base_data=base,
        gate_margin=load_config()["GATE_MARGIN"],
        feedback_weight=weight,
        cv=cv,
        n_jobs=1,
        crossfit_folds=crossfit if folds is None else folds,
        source_threshold_labels=None if by_source else 0,
    )
    job = run_job(store.create_job(Predictor.load(models_dir=models).version), settings)
    return Predictor.load(models_dir=variant_models), job


def main() -> None:
    """Run every variant for each source and seed and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", default=SOURCES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--cv", type=int, default=2)
    parser.add_argument("--crossfit-folds", type=int, default=5, help="folds of the cross-fitting variants")
    parser.add_argument("--base-rows", type=int, default=0, help="train on this many rows of the other sources")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {', '.join(VARIANTS)}")
    parser.add_argument("--json", help="also write every result to this JSON file")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    results = []
    print(f"{'source':<26}{'seed':>5} {'variant':<16}{'outcome':>10}{'current':>9}{'served':>8}{'gain':>8}")
    with tempfile.TemporaryDirectory(prefix="hta-simulation-") as tmp:
        for source in args.sources.split(","):
            work = Path(tmp) / source
            work.mkdir()
            base, models = base_model(rows, source, args.base_rows, args.cv, work)
            current = Predictor.load(models_dir=models)
            in_source = [r for r in rows if r["source"] == source]
            docs = sorted({r["doc"] for r in in_source})
            for seed in range(args.seeds):
                first = {docs[i] for i in np.random.default_rng(seed).permutation(len(docs))[: len(docs) // 2]}
                pool = [r for r in in_source if r["doc"] in first]
                test = [r for r in in_source if r["doc"] not in first]
                picked = select(current, pool, args.k, DEFAULT_STRATEGY, seed)
                picks = [{key: value for key, value in p.items() if key in ROW_FIELDS} for p in picked]
                current_f1 = macro_f1(current, test)
                for variant in variants:
                    run_dir = work / f"seed{seed}-{variant}"
                    run_dir.mkdir()
                    served, job = run_variant(variant, picks, source, base, models, args.cv, args.crossfit_folds,
                                              run_dir)  # fmt: skip
                    served_f1 = macro_f1(served, test, source)
                    verdict = job.get("verdict") or {}
                    result = {
                        "source": source, "seed": seed, "variant": variant, "state": job["state"],
                        "error": job.get("error"), "decision": verdict.get("decision"),
                        "feedback_test": verdict.get("feedback"), "base_test": verdict.get("base"),
                        "current_f1": round(current_f1, 4), "served_f1": round(served_f1, 4),
                        "served_thresholds_by_source": served.manifest.get("thresholds_by_source"),
                        "picks": len(picks), "unsure_picks": sum(bool(p.get("unsure")) for p in picks),
                        "test_rows": len(test),
                    }  # fmt: skip
                    results.append(result)
                    print(f"{source:<26}{seed:>5} {variant:<16}{job['state']:>10}{current_f1:>9.3f}{served_f1:>8.3f}"
                          f"{served_f1 - current_f1:>+8.3f}", flush=True)  # fmt: skip
                    if job.get("error") or job["state"] == "rejected":
                        print(f"  {job.get('error') or verdict.get('decision')}", flush=True)
                    shutil.rmtree(run_dir)
                    if args.json:
                        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print_tables(results, variants)
    print(f"{time.perf_counter() - started:.0f} s")


def print_tables(results: list[dict], variants: list[str]) -> None:
    """The mean gain per variant (over sources and seeds) and the mean served macro-F1 per source."""
    sources = list(dict.fromkeys(r["source"] for r in results))
    print("\nvariant            served  gain    min source gain  promoted")
    for variant in variants:
        mine = [r for r in results if r["variant"] == variant]
        gains = [r["served_f1"] - r["current_f1"] for r in mine]
        by_source = [np.mean([r["served_f1"] - r["current_f1"] for r in mine if r["source"] == s]) for s in sources]
        promoted = sum(r["state"] in ("succeeded", "trained") for r in mine)
        print(f"{variant:<18}{np.mean([r['served_f1'] for r in mine]):>7.3f}{np.mean(gains):>+8.3f}"
              f"{min(by_source):>+12.3f}{promoted:>10}/{len(mine)}")  # fmt: skip
    print("\nsource                      current " + "".join(f"{v:>15}" for v in variants))
    for s in sources:
        cur = np.mean([r["current_f1"] for r in results if r["source"] == s and r["variant"] == variants[0]])
        cells = "".join(
            f"{np.mean([r['served_f1'] for r in results if r['source'] == s and r['variant'] == v]):>15.3f}"
            for v in variants
        )
        print(f"{s:<28}{cur:>7.3f} {cells}")


if __name__ == "__main__":
    main()
