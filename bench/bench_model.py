"""Benchmark of the model library: prints training time, throughput, latency, size, memory, fastText ratio.

Targets (2-core machine): training without search < 60 s; batch predict >= 20,000 passages/s in one
process; single-passage latency p99 < 5 ms; artifact < 50 MB; `python -m classifier predict` on a
100,000-line JSONL file at least as fast, whole process, as a fastText model trained on the same corpus
doing the same job (fastText runs in its own environment: `make bench` builds `.venv-bench` from
requirements-bench.txt and passes its Python as `--fasttext-python`).

Usage: python bench/bench_model.py [--skip-fasttext | --fasttext-python PATH] [--lines 100000]
Bounded: everything runs on local files in a temporary directory and ends by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classifier.config import CORPUS_PATH

ROOT = Path(__file__).resolve().parent.parent


def corpus_texts() -> list[dict]:
    """The bundled corpus rows."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def dir_size_mb(path: Path) -> float:
    """Total size of the files under `path`, in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def bench_training(models_dir: Path) -> tuple[Path, float]:
    """Train the default model (no search) into `models_dir`; return (version dir, seconds)."""
    from training.train import train_model

    started = time.perf_counter()
    version_dir = train_model(CORPUS_PATH, models_dir=models_dir, progress=None)
    return version_dir, time.perf_counter() - started


def bench_predict(version_dir: Path, rows: list[dict]) -> dict:
    """Batch throughput on 10,000 passages and single-passage latency percentiles."""
    from classifier.predictor import Predictor

    predictor = Predictor.load(version_dir)
    texts = [r["text"] for r in rows]
    batch = (texts * 2)[:10_000]
    predictor.predict_texts(batch[:2000])  # warm the per-word caches as a running service would
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        predictor.predict_texts(batch)
        runs.append(time.perf_counter() - started)
    latencies = []
    rng = random.Random(0)
    for text in rng.sample(texts, 2000):
        started = time.perf_counter()
        predictor.predict_texts([text])
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "batch_passages_per_s": len(batch) / min(runs),
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": latencies[int(0.99 * len(latencies)) - 1],
    }


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, all its processes) of a whole process; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def bench_vs_fasttext(
    version_dir: Path, rows: list[dict], lines: int, work: Path, fasttext_python: str, rounds: int = 5
) -> dict[str, tuple[float, float]]:
    """Score the same `lines`-line JSONL with our CLI and with fastText (run by `fasttext_python`): (best wall
    time, CPU time of that run) of each command over `rounds` runs.

    The commands take turns, round after round, so a slow spell of the machine hits all of them alike.
    """
    baseline = str(ROOT / "bench" / "fasttext_baseline.py")
    train_file = work / "fasttext_train.txt"
    with open(train_file, "w", encoding="utf-8") as handle:
        for r in rows:
            tags = " ".join(f"__label__{label}" for label in r["labels"]) or "__label__none"
            handle.write(f"{tags} {r['text'].replace(chr(10), ' ')}\n")
    model_path = work / "fasttext.bin"
    subprocess.run([fasttext_python, baseline, "train", str(train_file), str(model_path)], check=True)

    rng = random.Random(1)
    input_path = work / "input.jsonl"
    with open(input_path, "w", encoding="utf-8") as handle:
        for i in range(lines):
            r = rows[rng.randrange(len(rows))]
            handle.write(json.dumps({"id": i, "source": r["source"], "text": r["text"]}) + "\n")
    ours = [sys.executable, "-m", "classifier", "predict", "--model", str(version_dir),
            "--input", str(input_path), "--output", str(work / "ours.jsonl")]  # fmt: skip
    theirs = [fasttext_python, baseline, "predict", str(model_path), str(input_path), str(work / "fasttext.jsonl")]
    commands = {
        "ours_default": ours,
        "ours_1": [*ours, "--processes", "1"],
        "fasttext": theirs,
        "fasttext_stdlib_json": [*theirs, "--stdlib-json"],
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-fasttext", action="store_true", help="skip the fastText comparison")
    parser.add_argument(
        "--fasttext-python",
        default=str(ROOT / ".venv-bench" / "bin" / "python"),
        help="Python of an environment with requirements-bench.txt (default: .venv-bench, as make bench builds it)",
    )
    parser.add_argument("--lines", type=int, default=100_000, help="JSONL lines for the fastText comparison")
    args = parser.parse_args()
    if not args.skip_fasttext and not Path(args.fasttext_python).is_file():
        parser.error(f"--fasttext-python {args.fasttext_python}: no such file (make bench builds .venv-bench)")
    rows = corpus_texts()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        version_dir, train_s = bench_training(work / "models")
        print(
            f"training (bundled corpus, {len(rows)} rows, CV + held-out + final fit): {train_s:.1f} s  [target < 60 s]"
        )
        figures = bench_predict(version_dir, rows)
        rate = figures["batch_passages_per_s"]
        print(f"batch predict, 10,000 passages, one process: {rate:,.0f} passages/s  [target >= 20,000]")
        p50, p99 = figures["latency_p50_ms"], figures["latency_p99_ms"]
        print(f"single-passage latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms  [target p99 < 5 ms]")
        model_mb = (version_dir / "model.joblib").stat().st_size / 1e6
        scorer_mb = (version_dir / "scorer.npz").stat().st_size / 1e6
        print(
            f"artifact size: {dir_size_mb(version_dir):.1f} MB (model.joblib {model_mb:.1f} MB, "
            f"scorer.npz {scorer_mb:.1f} MB)  [target < 50 MB]"
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process (training + predict): {peak_mb:.0f} MB")
        if not args.skip_fasttext:
            cmp = bench_vs_fasttext(version_dir, rows, args.lines, work, args.fasttext_python)
            (ours, ours_cpu), (ours_1, ours_1_cpu) = cmp["ours_default"], cmp["ours_1"]
            (ft, ft_cpu), (ft_std, ft_std_cpu) = cmp["fasttext"], cmp["fasttext_stdlib_json"]
            print(f"score a {args.lines:,}-line JSONL file, whole process, best of 5 (wall; CPU of that run):")
            for name, (wall, cpu) in (
                ("python -m classifier predict (default: one process per CPU)", (ours, ours_cpu)),
                ("python -m classifier predict --processes 1", (ours_1, ours_1_cpu)),
                ("fastText, JSON with orjson like ours", (ft, ft_cpu)),
                ("fastText, JSON with the standard library", (ft_std, ft_std_cpu)),
            ):
                print(f"  {name:<60} {wall:.2f} s; CPU {cpu:.2f} s")
            print(
                f"  ratio fastText/ours (wall), same JSON library: default {ft / ours:.2f}, "
                f"one process {ft / ours_1:.2f}  [target >= 1.0]"
            )
            print(
                f"  ratio against fastText with standard-library JSON: default {ft_std / ours:.2f}, "
                f"one process {ft_std / ours_1:.2f}"
            )


if __name__ == "__main__":
    main()
