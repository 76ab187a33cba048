"""Benchmark of evidence: the batch computation against the plain per-passage one, and what evidence costs
`python -m classifier predict` on a 100,000-line JSONL file.

1. In one process, on the flagged passages of the input (those with a label, as `predict` explains them),
   in batches of `--batch` passages: passages explained per CPU second by `LinearScorer.explain_rows`
   (batch, array operations) and by `explain_rows_plain` (the per-passage reference), best of `--rounds`;
   and whether the two gave the same evidence.
2. The whole `predict` process (`--processes 1`, default passages) with `--evidence 5` (the default) and
   `--evidence 0`: CPU time (user + system) and wall time, best of `--rounds`, the commands taking turns
   so that a slow spell of the shared machine hits both alike; and the ratio of the CPU times.

The input is `text` of the bundled corpus's rows, repeated in order with an `id` (as bench_model.py
builds it). The load average is printed before and after: on a loaded machine CPU times grow too.

Usage: python bench/bench_evidence.py [--lines 100000] [--rounds 3] [--batch 1000] [--model VERSION_DIR]
    [--skip-predict] [--keep-outputs DIR]
Bounded: a temporary folder holds the input and outputs (unless --keep-outputs) and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classifier.config import CORPUS_PATH
from classifier.predictor import Predictor
from classifier.segment import segment

ROOT = Path(__file__).resolve().parent.parent


def write_input(path: Path, lines: int) -> list[str]:
    """`lines` JSONL records (id, source, text) cycling through the corpus in order; returns the texts."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    texts = []
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(lines):
            row = rows[i % len(rows)]
            handle.write(json.dumps({"id": i, "source": row["source"], "text": row["text"]}) + "\n")
            texts.append(row["text"])
    return texts


def bench_paths(predictor: Predictor, texts: list[str], batch: int, rounds: int) -> dict:
    """Passages per CPU second of the batch and the plain evidence computations on the flagged passages."""
    scorer = predictor.scorer
    passages = [p.text for text in texts for p in segment(text)]
    rows = scorer.transform(passages)
    decided = scorer.decide(scorer.proba_from_rows(rows))
    flagged = decided.any(axis=1).nonzero()[0]
    texts_f = [passages[i] for i in flagged]
    rows_f = rows[flagged]
    asked = [[int(j) for j in decided[i].nonzero()[0]] for i in flagged]
    starts = range(0, len(texts_f), batch)

    def run(explain) -> tuple[float, list]:
        started = time.process_time()
        found = [
            out
            for s in starts
            for out in explain(texts_f[s : s + batch], rows_f[s : s + batch], asked[s : s + batch], 5)
        ]
        return time.process_time() - started, found

    batch_times, plain_times = [], []
    for _ in range(rounds):
        seconds, fast = run(scorer.explain_rows)
        batch_times.append(seconds)
        seconds, plain = run(scorer.explain_rows_plain)
        plain_times.append(seconds)
    return {
        "passages": len(passages),
        "flagged": len(texts_f),
        "labels": sum(map(len, asked)),
        "batch_per_cpu_s": len(texts_f) / min(batch_times),
        "plain_per_cpu_s": len(texts_f) / min(plain_times),
        "batch_cpu_s": min(batch_times),
        "plain_cpu_s": min(plain_times),
        "equal": fast == plain,
    }


def timed(cmd: list[str]) -> tuple[float, float]:
    """CPU time (user + system) and wall time of a whole process; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), wall


def bench_predict(input_path: Path, out_dir: Path, model: str | None, rounds: int) -> dict[int, tuple[float, float]]:
    """Best (CPU, wall) of `predict --processes 1` with 5 and with 0 evidence terms, taking turns."""
    times: dict[int, list[tuple[float, float]]] = {5: [], 0: []}
    for _ in range(rounds):
        for k in times:
            cmd = [sys.executable, "-m", "classifier", "predict", "--processes", "1", "--evidence", str(k),
                   "--input", str(input_path), "--output", str(out_dir / f"evidence{k}.jsonl")]  # fmt: skip
            if model:
                cmd += ["--model", model]
            times[k].append(timed(cmd))
    return {k: min(values) for k, values in times.items()}


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="JSONL lines of the input (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measurement; the best is kept")
    parser.add_argument("--batch", type=int, default=1000, help="flagged passages per evidence batch")
    parser.add_argument("--model", help="model version directory (default: the current version)")
    parser.add_argument("--skip-predict", action="store_true", help="only the in-process comparison")
    parser.add_argument("--keep-outputs", type=Path, help="write the input and predict outputs here and keep them")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep_outputs or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        input_path = work / f"input{args.lines}.jsonl"
        texts = write_input(input_path, args.lines)
        predictor = Predictor.load(args.model) if args.model else Predictor.load()
        paths = bench_paths(predictor, texts, args.batch, args.rounds)
        print(
            f"{args.lines:,} lines: {paths['passages']:,} passages, {paths['flagged']:,} flagged "
            f"({paths['labels']:,} labels), top 5 terms, batches of {args.batch}, best of {args.rounds}:"
        )
        for name, key in (("batch (explain_rows)", "batch"), ("plain (explain_rows_plain)", "plain")):
            rate, cpu = paths[f"{key}_per_cpu_s"], paths[f"{key}_cpu_s"]
            print(f"  {name:<27}{rate:>9,.0f} passages/CPU s  ({cpu:.2f} s)")
        print(f"  speed-up {paths['batch_per_cpu_s'] / paths['plain_per_cpu_s']:.1f}x; same evidence: {paths['equal']}")
        if not args.skip_predict:
            best = bench_predict(input_path, work, args.model, args.rounds)
            print(f"python -m classifier predict --processes 1 on {args.lines:,} lines, best of {args.rounds}:")
            for k, (cpu, wall) in best.items():
                print(f"  --evidence {k}: {cpu:6.2f} s CPU, {wall:6.2f} s wall")
            print(f"  CPU ratio evidence 5 / evidence 0: {best[5][0] / best[0][0]:.2f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
