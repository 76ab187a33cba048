"""Benchmark of batch scoring: passages/s and peak memory of `python -m classifier score`.

Runs 1 process, `--processes 2` and `--dask-local 2` on a JSONL file of N one-sentence passages (corpus
sentences repeated), at two input sizes so that memory can be seen not to grow with the input. Each
run is a subprocess with a timeout; peak memory is the peak of the summed RSS of the whole process
tree (scorer, pool workers, Dask scheduler/nanny/worker processes), sampled every 50 ms with psutil
(a dependency of distributed), and the peak RSS of the largest single process.

It also times the fixed cost of a local Dask cluster of 2 workers (start, the model on every worker,
stop) with forked workers (what `--dask-local` uses on Linux) and spawned ones (Dask's default), each
in a fresh process: that fixed cost is most of what separates `--dask-local 2` from `--processes 2`.

Usage: python bench/bench_batch.py [--sizes 200000 1000000] [--model VERSION_DIR] [--timeout 600] [--no-dask-overhead]
Without --model it uses the current version of HTA_MODELS_DIR if there is one, else trains one into a
temporary folder (about a minute). Everything else is written to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classifier.config import CORPUS_PATH

ROOT = Path(__file__).resolve().parent.parent

RUNS = (
    ("1 process", ["--processes", "1"]),
    ("--processes 2", ["--processes", "2"]),
    ("--dask-local 2", ["--dask-local", "2"]),
)


def write_input(path: Path, n: int) -> None:
    """N JSONL records, each one corpus sentence (with an id echoed), cycling through the corpus."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    with open(path, "w", encoding="utf-8") as out:
        for i, text in zip(range(n), itertools.cycle(texts)):
            out.write(json.dumps({"id": i, "text": text}) + "\n")


def model_dir(requested: str | None, tmp: Path) -> Path:
    """The model version to benchmark."""
    from classifier.artifacts import ArtifactError
    from classifier.config import models_dir
    from classifier.versions import resolve_version_dir

    if requested:
        return Path(requested)
    try:
        return resolve_version_dir(models_dir())
    except (ArtifactError, OSError):
        from training.train import train_model

        print("no current model: training one (about a minute)...", file=sys.stderr)
        train_model(CORPUS_PATH, models_dir=tmp / "models", cv=3, progress=None)
        return resolve_version_dir(tmp / "models")


def run(cmd: list[str], timeout: float) -> tuple[float, float, float, float]:
    """Run `cmd`; returns (wall s, peak summed RSS of the process tree MB, peak RSS of one process MB, CPU s).

    CPU seconds are those of the waited-for descendants (user + system): a check when the machine is shared.
    """
    import psutil

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak = single = 0
    while proc.poll() is None:
        if time.perf_counter() - start > timeout:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"{' '.join(cmd)} took more than {timeout} s")
        try:
            tree = [root, *root.children(recursive=True)]
            total = 0
            for p in tree:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                single = max(single, rss)
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, peak / 2**20, single / 2**20, usage.ru_utime + usage.ru_stime - cpu0


DASK_OVERHEAD = """
import logging, sys, time
from pathlib import Path

def main(version, method):
    import dask
    from distributed import Client, LocalCluster
    from classifier.batch import on_dask
    from classifier.predictor import Predictor

    version = str(Path(version).resolve())
    sha = on_dask.manifest_sha256(Path(version))
    if method == "fork":  # what score_on_dask does for a local cluster: workers inherit the loaded model
        on_dask._MODELS[(version, sha)] = Predictor.load(version)
    t0 = time.perf_counter()
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    t1 = time.perf_counter()
    client.run(on_dask.worker_predictor, version, sha)
    t2 = time.perf_counter()
    client.close()
    cluster.close()
    t3 = time.perf_counter()
    print(f"{t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2:.2f}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


def dask_overhead(version: Path, tmp: Path) -> list[tuple[str, float, float, float]]:
    """(method, cluster start s, model on both workers s, stop s) of a 2-worker LocalCluster, fork and spawn."""
    script = tmp / "dask_overhead.py"
    script.write_text(DASK_OVERHEAD, encoding="utf-8")
    rows = []
    for method in ("fork", "spawn"):
        out = subprocess.run(
            [sys.executable, str(script), str(version), method],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        start, load, stop = (float(v) for v in out.stdout.split())
        rows.append((method, start, load, stop))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000], help="input sizes (passages)")
    parser.add_argument("--model", help="model version directory (default: current version, or train one)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    parser.add_argument("--runs", nargs="+", choices=[name for name, _ in RUNS], default=[name for name, _ in RUNS])
    parser.add_argument("--no-dask-overhead", action="store_true", help="skip timing the Dask cluster's fixed cost")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_batch.") as tmp_name:
        tmp = Path(tmp_name)
        version = model_dir(args.model, tmp)
        print(f"model: {version}; cpus: {os.cpu_count()}", file=sys.stderr)
        for n in args.sizes:
            data = tmp / f"input-{n}.jsonl"
            write_input(data, n)
            for name, extra in RUNS:
                if name not in args.runs:
                    continue
                out = tmp / (f"out-{n}-{name.replace(' ', '').replace('-', '')}" + ("" if "dask" in name else ".jsonl"))
                cmd = [
                    sys.executable,
                    "-m",
                    "classifier",
                    "score",
                    str(data),
                    "-o",
                    str(out),
                    "--quiet",
                    "--model",
                    str(version),
                    *extra,
                ]
                try:
                    wall, peak_tree, max_single, cpu = run(cmd, args.timeout)
                except TimeoutError as exc:
                    print(f"{n:>9,}  {name:<15} {exc}", file=sys.stderr)
                    continue
                rows.append((n, name, wall, n / wall, peak_tree, max_single, cpu))
                print(
                    f"{n:>9,}  {name:<15} {wall:7.1f} s {n / wall:>9,.0f}/s  tree peak {peak_tree:6.0f} MB",
                    file=sys.stderr,
                )
            data.unlink()
        overhead = [] if args.no_dask_overhead else dask_overhead(version, tmp)
    print(
        f"\n{'passages':>10} | {'run':<15} | {'wall s':>7} | {'passages/s':>10} | {'speed-up':>8} | "
        f"{'peak RSS tree MB':>16} | {'max 1 proc MB':>13} | {'CPU s':>6}"
    )
    print("-" * 107)
    for n, name, wall, rate, peak, single, cpu in rows:
        base = next((r[3] for r in rows if r[0] == n and r[1] == "1 process"), rate)
        print(
            f"{n:>10,} | {name:<15} | {wall:7.1f} | {rate:>10,.0f} | {rate / base:>7.2f}x | {peak:>16.0f} | "
            f"{single:>13.0f} | {cpu:>6.1f}"
        )
    if overhead:
        print("\nfixed cost of a 2-worker LocalCluster (s): start, the model on both workers, stop, total")
        for method, start, load, stop in overhead:
            print(f"  {method:<6} {start:6.2f} {load:6.2f} {stop:6.2f} {start + load + stop:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
