"""Benchmark of the production server (`python -m service`, gunicorn) on loopback, with wrk, bounded in time.

Starts the server on a free 127.0.0.1 port against a models directory (default: the configured one;
the server trains the default model there if it has none) and, beside it, a bare Flask app
(bench/bare_app.py: parse the JSON body, answer a constant) on the same gunicorn settings and worker
count, then measures

1. single-passage ``POST /v1/predict`` with ``wrk -t2 -c8 -d10s --latency`` (keep-alive connections;
   Debian's wrk, installed by bench/install-wrk): requests/s and p50/p99 latency of the service and of the
   bare app, taking turns for `--rounds` rounds, and the ratio service / bare app (target >= 0.5): the
   median of the rounds' ratios, each pair measured back to back, so that load from other processes on a
   shared machine hits both alike;
2. the latency of one request scoring a batch of 1,000 passages (``{"texts": [...]}``).

With ``--before REV`` the same is measured for a git revision (checked out in a temporary worktree and
run with this interpreter; its own bench/bare_app.py and gunicorn settings) in the same run, the two trees
taking turns round by round, and the figures are printed side by side.

Usage: python bench/bench_service.py [--before REV] [--models-dir DIR] [--seconds 10] [--rounds 3]
       [--connections 8] [--threads 2] [--workers 2]
Targets: ratio to the bare app >= 0.5, p99 < 10 ms, >= 1,000 req/s, 1,000-passage batch < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = [
    "Officials warned that hostile state actors are preparing sabotage against the power grid.",
    "The minister thanked partners for their continued support of Ukraine's sovereignty.",
    "Investigators found explosives near a railway line used to deliver military aid.",
    "The weather in Kyiv was mild and the markets were busy on Saturday morning.",
    "Disinformation campaigns and cyberattacks are part of a hybrid war against Europe.",
]
# wrk's script: POST the sentences in turn, one {"text": ...} body each (keep-alive).
WRK_SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/predict", {["Content-Type"] = "application/json"}, bodies[i])
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Figures:
    """One wrk run: requests/s, p50 and p99 latency (ms), requests and failed ones."""

    rps: float
    p50: float
    p99: float
    requests: int
    errors: int
    cpu_ms: float = 0.0  # the server's CPU time (master and workers, user + system) per request


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process `pid` and its children now (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    for each in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def parse_wrk(output: str) -> Figures:
    """The figures of `wrk --latency` output."""

    def latency(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not found:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{output}")
        return float(found.group(1)) * UNITS[found.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not rps or not total:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Figures(float(rps.group(1)), latency("50%"), latency("99%"), int(total.group(1)), errors)


def run_wrk(wrk: str, script: Path, port: int, args, pid: int | None = None) -> Figures:
    """One wrk run against 127.0.0.1:`port` (and the CPU time per request of server `pid`)."""
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds:g}s", "--latency", "-s",
               str(script), f"http://127.0.0.1:{port}/v1/predict"]  # fmt: skip
    cpu = cpu_seconds(pid) if pid else 0.0
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    figures = parse_wrk(done.stdout)
    if pid and figures.requests:
        figures.cpu_ms = (cpu_seconds(pid) - cpu) * 1000 / figures.requests
    return figures


def wait_ready(url: str, process: subprocess.Popen, log: Path, body: bytes | None = None) -> bytes:
    """GET (or POST `body` to) `url` until it answers; the body of the answer."""
    deadline = time.time() + 180
    while True:
        try:
            headers = {"Content-Type": "application/json"}
            with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=2) as r:
                return r.read()
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    """Stop a server started by `Tree.start` (its whole process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


@dataclass
class Tree:
    """One source tree under test (this checkout, or a revision's temporary worktree) and its two servers."""

    name: str
    root: Path
    port: int = 0
    bare_port: int = 0
    processes: list = field(default_factory=list)
    ours: list = field(default_factory=list)  # Figures per round
    theirs: list = field(default_factory=list)
    batch: list = field(default_factory=list)  # seconds per 1,000-passage request
    version: str = ""

    def start(self, env: dict, workers: int, tmp: Path) -> None:
        """Start the service and the bare app of this tree; wait until both answer."""
        self.port, self.bare_port = free_port(), free_port()
        env = {**env, "HTA_PORT": str(self.port), "PYTHONPATH": str(self.root),
               "HTA_FEEDBACK_DB": str(tmp / f"{self.name}.sqlite3")}  # fmt: skip
        bare_app = self.root / "bench" / "bare_app.py"
        if not bare_app.exists():  # an older revision without one: this checkout's
            bare_app = ROOT / "bench" / "bare_app.py"
        logs = tmp / f"{self.name}-server.log", tmp / f"{self.name}-bare.log"
        commands = (
            [sys.executable, "-m", "service", "--workers", str(workers)],
            [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_conf", "--bind",
             f"127.0.0.1:{self.bare_port}", "--workers", str(workers), "--chdir", str(bare_app.parent),
             "bare_app:app"],
        )  # fmt: skip
        for command, log in zip(commands, logs, strict=True):
            with open(log, "wb") as errors:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=self.root,
                        env=env,
                        start_new_session=True,
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                    )
                )
        base = f"http://127.0.0.1:{self.port}"
        self.version = json.loads(wait_ready(base + "/readyz", self.processes[0], logs[0]))["model_version"]
        wait_ready(f"http://127.0.0.1:{self.bare_port}/v1/predict", self.processes[1], logs[1], b'{"text": "x"}')

    def stop(self) -> None:
        """Stop both servers."""
        for process in self.processes:
            stop(process)

    def batch_request(self, body: bytes) -> None:
        """Time one 1,000-passage request."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/predict", data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            results = json.loads(response.read())["results"]
        self.batch.append(time.perf_counter() - started)
        if len(results) != 1000:
            raise RuntimeError(f"{self.name}: {len(results)} results for 1,000 texts")

    def ratios(self) -> list[float]:
        """Service / bare app requests/s of each round (sorted)."""
        return sorted(a.rps / b.rps for a, b in zip(self.ours, self.theirs, strict=True))

    def report(self, label: str) -> list[str]:
        """Lines of figures for this tree."""
        lines = [f"{label} ({self.name}, model {self.version}):"]
        for name, runs in (("service", self.ours), ("bare app", self.theirs)):
            each = ", ".join(f"{f.rps:.0f} req/s p99 {f.p99:.2f} ms cpu {f.cpu_ms:.3f} ms/req" for f in runs)
            errors = sum(f.errors for f in runs)
            lines.append(f"  {name:9} rounds: {each}; {errors} errors")
        ratios = self.ratios()
        p50 = statistics.median(f.p50 for f in self.ours)
        lines.append(
            f"  ratio service / bare app: median {statistics.median(ratios):.2f} (rounds: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f"); service p99 median {self.p99():.2f} ms, p50 median {p50:.2f} ms"
        )
        cpu = statistics.median(a.cpu_ms for a in self.ours), statistics.median(b.cpu_ms for b in self.theirs)
        if cpu[0]:
            lines.append(
                f"  server CPU per request (median): service {cpu[0]:.3f} ms, bare app {cpu[1]:.3f} ms: "
                f"bare / service {cpu[1] / cpu[0]:.2f} (what the ratio would be with the CPUs to themselves)"
            )
        if self.batch:
            lines.append(
                f"  1,000-passage batch: median {statistics.median(self.batch) * 1000:.0f} ms over {len(self.batch)} "
                f"runs (min {min(self.batch) * 1000:.0f} ms)"
            )
        return lines

    def p99(self) -> float:
        """Median over the rounds of the service's p99 (ms)."""
        return statistics.median(f.p99 for f in self.ours)

    def met(self) -> bool:
        """Whether this tree meets the targets."""
        median_rps = statistics.median(f.rps for f in self.ours)
        errors = sum(f.errors for f in self.ours + self.theirs)
        return (
            statistics.median(self.ratios()) >= 0.5
            and self.p99() < 10
            and median_rps >= 1000
            and errors == 0
            and (not self.batch or statistics.median(self.batch) < 0.5)
        )


def worktree(rev: str, tmp: Path) -> Path:
    """A temporary detached worktree of `rev` (removed by `remove_worktree`)."""
    path = tmp / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), rev], check=True)
    return path


def remove_worktree(path: Path) -> None:
    """Remove a worktree made by `worktree`."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


def add_wrk_options(parser: argparse.ArgumentParser) -> None:
    """The load options every HTTP benchmark here shares: wrk's duration, rounds, connections and threads,
    and the server's gunicorn workers."""
    parser.add_argument("--seconds", type=lambda value: min(float(value), 60.0), default=10.0,
                        help="wrk's duration per run (-d; max 60)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each case, taking turns")
    parser.add_argument("--connections", type=int, default=8, help="wrk's keep-alive connections (-c)")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads (-t)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")


def find_wrk() -> str | None:
    """wrk's path, or None after saying on stderr how to install it."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed: run bench/install-wrk (Debian's wrk)", file=sys.stderr)
    return wrk


def write_predict_script(folder: Path) -> Path:
    """wrk's Lua script posting `SENTENCES` in turn, written into `folder`."""
    script = folder / "predict.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(json.dumps({"text": s})) for s in SENTENCES))
    return script


def main() -> int:
    """Run the benchmark; print the figures; 0 (the targets are reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REV", help="also benchmark this git revision, in the same run")
    parser.add_argument("--models-dir", help="models directory (default: HTA_MODELS_DIR or models/)")
    add_wrk_options(parser)
    parser.add_argument("--batch-runs", type=int, default=5, help="1,000-passage batch requests (median reported)")
    args = parser.parse_args()
    wrk = find_wrk()
    if wrk is None:
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hta-bench-"))
    script = write_predict_script(tmp)
    env = {**os.environ, "HTA_HOST": "127.0.0.1", "HTA_ACCESS_LOG": "false", "HTA_MAX_BATCH": "1000"}
    env.pop("HTA_WORKERS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if args.models_dir:
        env["HTA_MODELS_DIR"] = str(Path(args.models_dir).resolve())
    trees = [Tree("this checkout", ROOT)]
    before_path = None
    try:
        if args.before:
            before_path = worktree(args.before, tmp)
            rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.before], capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
            trees.insert(0, Tree(f"{args.before} = {rev}", before_path))
        for tree in trees:
            tree.start(env, args.workers, tmp)
        quick = argparse.Namespace(**{**vars(args), "seconds": 1.0})
        for tree in trees:  # warm-up: every worker has loaded the model and taken requests
            run_wrk(wrk, script, tree.port, quick)
            run_wrk(wrk, script, tree.bare_port, quick)
        for _ in range(args.rounds):
            for tree in trees:
                tree.ours.append(run_wrk(wrk, script, tree.port, args, tree.processes[0].pid))
                tree.theirs.append(run_wrk(wrk, script, tree.bare_port, args, tree.processes[1].pid))
        batch = json.dumps({"texts": [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(1000)]}).encode()
        for _ in range(args.batch_runs):
            for tree in trees:
                tree.batch_request(batch)
        load = os.getloadavg()
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency (keep-alive), single-passage "
            f"POST /v1/predict; servers: python -m service --workers {args.workers} and bench/bare_app.py on the "
            f"same gunicorn settings; {args.rounds} rounds taking turns; {os.cpu_count()} CPUs, load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        for tree, label in zip(trees, ["before", "after"] if args.before else ["figures"], strict=True):
            print("\n".join(tree.report(label)))
        for tree in trees:
            ok = tree.met()
            print(
                f"targets for {tree.name} (ratio >= 0.5, p99 < 10 ms, >= 1000 req/s, no errors, batch < 500 ms): "
                f"{'met' if ok else 'NOT met'}"
            )
        return 0
    finally:
        for tree in trees:
            tree.stop()
        if before_path is not None:
            remove_worktree(before_path)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
