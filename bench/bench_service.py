"""Benchmark of the production server (`python -m service`, gunicorn) on loopback, bounded in time.

Starts the server on a free 127.0.0.1 port against a models directory (default: the configured one;
the server trains the default model there if it has none), then measures

1. single-passage ``POST /v1/predict`` requests/s and p50/p99 latency at a fixed concurrency
   (asyncio client, one connection per request since gunicorn's sync workers close after each);
2. the latency of one request scoring a batch of 1,000 passages (``{"texts": [...]}``).

Usage: python bench/bench_service.py [--models-dir DIR] [--seconds 10] [--concurrency 8] [--workers N]
Targets: >= 1,000 req/s, p99 < 25 ms, 1,000-passage batch < 0.5 s.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", help="models directory (default: HTA_MODELS_DIR or models/)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the load test (max 60)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the service's default)")
    parser.add_argument("--batch-runs", type=int, default=5, help="1,000-passage batch requests (median reported)")
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="hta-bench-")
    env = {
        **os.environ,
        "HTA_PORT": str(port),
        "HTA_HOST": "127.0.0.1",
        "HTA_ACCESS_LOG": "false",
        "HTA_FEEDBACK_DB": str(Path(tmp) / "bench.sqlite3"),
        "HTA_MAX_BATCH": "1000",
    }
    if args.models_dir:
        env["HTA_MODELS_DIR"] = args.models_dir
    if args.workers:
        env["HTA_WORKERS"] = str(args.workers)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(Path(tmp) / "server.log", "wb"),  # noqa: SIM115
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                    version = json.loads(response.read())["model_version"]
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    print((Path(tmp) / "server.log").read_text()[-2000:], file=sys.stderr)
                    return 1
                time.sleep(0.3)
        asyncio.run(load(port, 1.0, args.concurrency))  # warm-up: every worker loads the model
        latencies, errors, elapsed = asyncio.run(load(port, seconds, args.concurrency))
        rps = len(latencies) / elapsed
        p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000

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
            f"model {version}; server: python -m service, {env.get('HTA_WORKERS', 'default')} workers; "
            f"{os.cpu_count()} CPUs; client: asyncio, concurrency {args.concurrency}, {seconds:.0f} s"
        )
        print(
            f"single-passage predict: {len(latencies)} requests, {errors} errors, {rps:.0f} req/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        print(
            f"1,000-passage batch: median {batch_median * 1000:.0f} ms over {args.batch_runs} runs "
            f"(min {min(batch_times) * 1000:.0f} ms)"
        )
        ok = rps >= 1000 and p99 < 25 and batch_median < 0.5
        print(f"targets (>= 1000 req/s, p99 < 25 ms, batch < 500 ms): {'met' if ok else 'NOT met'}")
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
