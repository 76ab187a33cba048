"""Benchmark of the production server (`python -m service`, gunicorn) on loopback, bounded in time.

Starts the server on a free 127.0.0.1 port against a models directory (default: the configured one;
the server trains the default model there if it has none) and, beside it, a bare Flask app
(bench/bare_app.py: parse the JSON body, answer a constant) on the same gunicorn settings and worker
count, then measures

1. single-passage ``POST /v1/predict`` requests/s and p50/p99 latency at a fixed concurrency (asyncio
   client, one connection per request), the service and the bare app taking turns for `--rounds`
   short rounds, and the ratio service / bare app (target >= 0.5): the median of the rounds' ratios,
   each measured back to back, so that load from other processes on a shared machine hits both alike;
2. the latency of one request scoring a batch of 1,000 passages (``{"texts": [...]}``).

Usage: python bench/bench_service.py [--models-dir DIR] [--seconds 10] [--concurrency 8] [--workers N]
Targets: >= 1,000 req/s, p99 < 25 ms, 1,000-passage batch < 0.5 s, ratio to the bare app >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = [
    "Officials warned that hostile state actors are preparing sabotage against the power grid.",
    "The minister thanked partners for their continued support of Ukraine's sovereignty.",
    "Investigators found explosives near a railway line used to deliver military aid.",
    "The weather in Kyiv was mild and the markets were busy on Saturday morning.",
    "Disinformation campaigns and cyberattacks are part of a hybrid war against Europe.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_request(port: int, body: bytes) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(data[:200])
    return time.perf_counter() - started


async def load(port: int, seconds: float, concurrency: int) -> tuple[list[float], int, float]:
    bodies = [json.dumps({"text": s}).encode() for s in SENTENCES]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        i = k
        while time.perf_counter() < deadline:
            try:
                latencies.append(await one_request(port, bodies[i % len(bodies)]))
            except Exception:
                errors += 1
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> bytes:
    """GET `url` until it answers; the body."""
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.3)


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=open(log, "wb")
    )


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", help="models directory (default: HTA_MODELS_DIR or models/)")
    parser.add_argument("--seconds", type=float, default=10.0, help="load-test time per server (max 60)")
    parser.add_argument("--rounds", type=int, default=10, help="turns each server takes (seconds split over them)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the service's default)")
    parser.add_argument("--batch-runs", type=int, default=5, help="1,000-passage batch requests (median reported)")
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    from service.__main__ import default_workers

    workers = args.workers or int(os.environ.get("HTA_WORKERS", default_workers()))
    port, bare_port = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="hta-bench-"))
    env = {
        **os.environ,
        "HTA_PORT": str(port),
        "HTA_HOST": "127.0.0.1",
        "HTA_ACCESS_LOG": "false",
        "HTA_FEEDBACK_DB": str(tmp / "bench.sqlite3"),
        "HTA_MAX_BATCH": "1000",
        "HTA_WORKERS": str(workers),
    }
    if args.models_dir:
        env["HTA_MODELS_DIR"] = args.models_dir
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = start([sys.executable, "-m", "service"], env, tmp / "server.log")
    bare = start(
        [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_conf", "--bind",
         f"127.0.0.1:{bare_port}", "--workers", str(workers), "bench.bare_app:app"],
        env, tmp / "bare.log",
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        version = json.loads(wait_ready(base + "/readyz", server, tmp / "server.log"))["model_version"]
        bare_url = f"http://127.0.0.1:{bare_port}/v1/predict"
        wait_ready_post(bare_url, bare, tmp / "bare.log")
        asyncio.run(load(port, 1.0, args.concurrency))  # warm-up: every worker loads the model
        asyncio.run(load(bare_port, 1.0, args.concurrency))
        ours, theirs = Run(), Run()
        for _ in range(args.rounds):
            ours.add(*asyncio.run(load(port, seconds / args.rounds, args.concurrency)))
            theirs.add(*asyncio.run(load(bare_port, seconds / args.rounds, args.concurrency)))

        batch = json.dumps({"texts": [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(1000)]}).encode()
        batch_times = []
        for _ in range(args.batch_runs):
            request = urllib.request.Request(
                base + "/v1/predict", data=batch, headers={"Content-Type": "application/json"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                results = json.loads(response.read())["results"]
            batch_times.append(time.perf_counter() - started)
            assert len(results) == 1000
        batch_median = statistics.median(batch_times)

        print(
            f"model {version}; servers: python -m service and bench/bare_app.py, same gunicorn settings, "
            f"{workers} workers; {os.cpu_count()} CPUs; client: asyncio, concurrency {args.concurrency}, "
            f"{seconds:.0f} s each in {args.rounds} alternating rounds"
        )
        print(f"single-passage predict, service: {ours.summary()}")
        print(f"bare Flask app:                  {theirs.summary()}")
        ratios = sorted(a / b for a, b in zip(ours.round_rps, theirs.round_rps, strict=True))
        ratio = statistics.median(ratios)
        print(
            f"ratio service / bare app: {ratio:.2f} (median of {len(ratios)} back-to-back rounds, from "
            f"{ratios[0]:.2f} to {ratios[-1]:.2f}; totals {ours.rps / theirs.rps:.2f}) (target >= 0.5)"
        )
        print(
            f"1,000-passage batch: median {batch_median * 1000:.0f} ms over {args.batch_runs} runs "
            f"(min {min(batch_times) * 1000:.0f} ms)"
        )
        ok = ours.rps >= 1000 and ours.p99 < 25 and batch_median < 0.5 and ratio >= 0.5
        print(f"targets (>= 1000 req/s, p99 < 25 ms, batch < 500 ms, ratio >= 0.5): {'met' if ok else 'NOT met'}")
        return 0
    finally:
        stop(server)
        stop(bare)


def wait_ready_post(url: str, process: subprocess.Popen, log: Path) -> None:
    """POST a small predict to `url` until it answers."""
    deadline = time.time() + 60
    while True:
        try:
            request = urllib.request.Request(url, data=b'{"text": "x"}', headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.3)


class Run:
    """Latencies and errors of a server's rounds."""

    def __init__(self):
        self.latencies: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.round_rps: list[float] = []

    def add(self, latencies: list[float], errors: int, elapsed: float) -> None:
        self.round_rps.append(len(latencies) / elapsed)
        self.latencies += latencies
        self.errors += errors
        self.elapsed += elapsed

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    def summary(self) -> str:
        return (
            f"{len(self.latencies)} requests, {self.errors} errors, {self.rps:.0f} req/s, "
            f"p50 {percentile(self.latencies, 0.5) * 1000:.1f} ms, p99 {self.p99:.1f} ms"
        )


if __name__ == "__main__":
    sys.exit(main())
