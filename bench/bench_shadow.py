"""Latency of the production server with and without a shadow run, on loopback with wrk, bounded in time.

Starts `python -m service` (gunicorn, `--workers` workers, plus its shadow scorer process) on a free
127.0.0.1 port with a temporary HTA_HOME whose models directory holds a shadow candidate: a copy of the
bundled default model with other English thresholds (a second version that decides differently and costs
what any version of this model costs to score). Then, for `--rounds` rounds taking turns, single-passage
``POST /v1/predict`` under ``wrk -t2 -c8 -d10s --latency`` (bench/bench_service.py's requests) without a
shadow run and with one scoring every request (``share`` 1.0, the worst case): requests/s, p50, p99; per
shadow round how many requests the shadow scored and how many its queue dropped. Before the rounds it
checks that every answer is byte-for-byte the same with the shadow running.

Usage: python bench/bench_shadow.py [--seconds 10] [--rounds 3] [--workers 2] [--share 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

# this folder's service benchmark: its requests, wrk runner, port and stop helpers
from bench_service import (
    ROOT,
    SENTENCES,
    add_wrk_options,
    find_wrk,
    free_port,
    run_wrk,
    stop,
    wait_ready,
    write_predict_script,
)

TOKEN = "bench-admin"
SHADOW = "shadow-candidate"


def _call(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _candidate(models: Path) -> None:
    from classifier.config import BUNDLED_MODELS_DIR

    source = sorted(p for p in BUNDLED_MODELS_DIR.iterdir() if (p / "manifest.json").is_file())[-1]
    target = models / SHADOW
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = SHADOW
    english = manifest["thresholds_by_language"]["en"]
    for label in english:
        english[label] = round(english[label] * 0.6, 6)
    (target / "manifest.json").write_text(json.dumps(manifest))


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wrk_options(parser)
    parser.add_argument("--share", type=float, default=1.0, help="share of requests the shadow scores")
    args = parser.parse_args()
    wrk = find_wrk()
    if wrk is None:
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hta-bench-shadow-"))
    (tmp / "home" / "models").mkdir(parents=True)
    _candidate(tmp / "home" / "models")
    script = write_predict_script(tmp)
    port = free_port()
    env = {**os.environ, "HTA_HOST": "127.0.0.1", "HTA_PORT": str(port), "HTA_ACCESS_LOG": "false",
           "HTA_HOME": str(tmp / "home"), "HTA_ADMIN_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}  # fmt: skip
    for name in ("HTA_WORKERS", "PROMETHEUS_MULTIPROC_DIR", "HTA_MODELS_DIR", "HTA_FEEDBACK_DB", "HTA_SHADOW_FILE"):
        env.pop(name, None)
    log = tmp / "server.log"
    with open(log, "wb") as errors:
        command = [sys.executable, "-m", "service", "--workers", str(args.workers)]
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=errors
        )
    base = f"http://127.0.0.1:{port}"
    rows: dict[str, list] = {"without shadow": [], "with shadow": []}
    scored, dropped = [], []
    try:
        wait_ready(base + "/readyz", server, log)
        quick = argparse.Namespace(**{**vars(args), "seconds": 1.0})
        run_wrk(wrk, script, port, quick)  # warm-up: every worker has loaded the model and taken requests
        plain = [_call(base, "POST", "/v1/predict", {"text": s}) for s in SENTENCES]
        status, body = _call(base, "POST", f"/v1/models/{SHADOW}/shadow", {"share": 1.0})
        if status != 201:
            raise RuntimeError(f"shadow run refused: {status} {body.decode()}")
        shadowed = [_call(base, "POST", "/v1/predict", {"text": s}) for s in SENTENCES]
        identical = plain == shadowed
        _call(base, "DELETE", "/v1/shadow")
        for _ in range(args.rounds):
            rows["without shadow"].append(run_wrk(wrk, script, port, args, server.pid))
            _call(base, "POST", f"/v1/models/{SHADOW}/shadow", {"share": args.share})
            rows["with shadow"].append(run_wrk(wrk, script, port, args, server.pid))
            report = json.loads(_call(base, "GET", "/v1/shadow")[1])
            scored.append(report["requests"])
            dropped.append(report["dropped_requests"] - sum(dropped))
            _call(base, "DELETE", "/v1/shadow")
        load = os.getloadavg()
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency, single-passage POST "
            f"/v1/predict, python -m service --workers {args.workers} (+ its shadow scorer process, nice 19); "
            f"{args.rounds} rounds taking turns; {os.cpu_count()} CPUs, load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        print(f"answers with a shadow run byte-for-byte the same as without: {'yes' if identical else 'NO'}")
        for name, runs in rows.items():
            each = ", ".join(f"{f.rps:.0f} req/s p50 {f.p50:.2f} ms p99 {f.p99:.2f} ms" for f in runs)
            p50, p99 = statistics.median(f.p50 for f in runs), statistics.median(f.p99 for f in runs)
            errors = sum(f.errors for f in runs)
            print(f"  {name:15} p50 median {p50:.2f} ms, p99 median {p99:.2f} ms; rounds: {each}; {errors} errors")
        print(
            f"  shadow (share {args.share:g}): requests scored per round {scored}, dropped (queue full) per round "
            f"{[int(d) for d in dropped]}"
        )
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
