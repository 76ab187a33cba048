"""Hostile and slow clients against the real server (`python -m service`) on loopback, bounded in time.

1. Slow clients: `--slow-clients` connections (default 50) for `--slow-seconds` (default 20) that send
   nothing, dribble their headers a byte at a time, or stop half way through a body, reconnecting
   whenever the server closes them; meanwhile one normal client sends single-passage predicts and the
   latency of each is recorded. Target: every normal predict answered, in < 2 s.
2. Hostile requests: `--hostile` requests (default 3,000) of deep nesting, wrong types, huge and chunked
   bodies, odd Unicode and bad headers. Target: no 5xx, every /v1 error in the JSON error shape, and a
   normal predict still answered afterwards.

Usage: python bench/bench_hostile.py [--models-dir DIR] [--port N] [--slow-clients 50] [--slow-seconds 20]
       [--hostile 3000] [--workers N]
Prints the figures; exit status 0 when the targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench_service import free_port, stop  # this folder's service benchmark: the same port and stop helpers

ROOT = Path(__file__).resolve().parent.parent
PREDICT = b'{"text": "Saboteurs cut the undersea cable near the coast."}'


def start_server(port: int, tmp: Path, models_dir: str | None, workers: int | None) -> subprocess.Popen:
    """`python -m service` on 127.0.0.1:port, waited for until ready."""
    env = {
        **os.environ,
        "HTA_PORT": str(port),
        "HTA_HOST": "127.0.0.1",
        "HTA_ACCESS_LOG": "false",
        "HTA_FEEDBACK_DB": str(tmp / "bench.sqlite3"),
    }
    if models_dir:
        env["HTA_MODELS_DIR"] = models_dir
    if workers:
        env["HTA_WORKERS"] = str(workers)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "wb"),  # noqa: SIM115
    )
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                stop(server)
                raise RuntimeError((tmp / "server.log").read_text()[-2000:]) from None
            time.sleep(0.3)


async def exchange(port: int, raw: bytes, timeout: float = 20.0, pause_after: float = 0.0):
    """Send `raw`, read the answer until the server closes; (status or None, headers, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        try:
            writer.write(raw)
            await writer.drain()
            if pause_after:
                await asyncio.sleep(pause_after)
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass  # the server may answer and close before reading everything
        data = b""
        with contextlib.suppress(ConnectionError, OSError):
            data = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    return parse_response(data)


def parse_response(data: bytes):
    if not data.startswith(b"HTTP/"):
        return None, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def request(method: str, path: str, body: bytes = b"", headers: dict | None = None, length: int | None = None) -> bytes:
    """A raw HTTP/1.1 request (Connection: close); `length` overrides the Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    given = {"Content-Type": "application/json", **(headers or {})}
    if "Transfer-Encoding" not in given and body is not None:
        given.setdefault("Content-Length", str(len(body) if length is None else length))
    lines += [f"{k}: {v}" for k, v in given.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(body: bytes, size: int = 65536) -> bytes:
    out = b"".join(b"%x\r\n" % len(body[i : i + size]) + body[i : i + size] + b"\r\n" for i in range(0, len(body),
                   size))  # fmt: skip
    return out + b"0\r\n\r\n"


# ---------------------------------------------------------------- slow clients


async def slow_client(port: int, kind: str, until: float) -> int:
    """Hold connections open the way a slow or idle client does, reconnecting until `until`."""
    opened = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        opened += 1
        try:
            if kind == "half-body":
                writer.write(request("POST", "/v1/predict", PREDICT[:10], length=len(PREDICT)))
                await writer.drain()
            elif kind == "dribble":
                for byte in request("POST", "/v1/predict", PREDICT):
                    if time.monotonic() >= until or reader.at_eof():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(1.0)
            while time.monotonic() < until and not reader.at_eof():  # idle: wait for the server to give up
                try:
                    await asyncio.wait_for(reader.read(4096), max(0.01, min(1.0, until - time.monotonic())))
                except TimeoutError:
                    continue
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
    return opened


async def slow_phase(port: int, clients: int, seconds: float) -> dict:
    until = time.monotonic() + seconds
    kinds = ["idle", "dribble", "half-body"]
    tasks = [asyncio.create_task(slow_client(port, kinds[i % 3], until)) for i in range(clients)]
    await asyncio.sleep(1.0)  # let them take their connections first
    latencies, failures = [], []
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            status, _, _ = await exchange(port, request("POST", "/v1/predict", PREDICT), timeout=10)
            if status != 200:
                failures.append(status)
        except (OSError, TimeoutError) as exc:
            failures.append(repr(exc))
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.2)
    opened = sum(await asyncio.gather(*tasks))
    return {"latencies": latencies, "failures": failures, "connections": opened}


# ---------------------------------------------------------------- hostile requests


def hostile_requests(n: int, rng: random.Random) -> list[tuple[str, str, bytes]]:
    """(category, path, raw request) of `n` hostile requests."""
    paths = ["/v1/predict", "/v1/feedback", "/v1/retrain", "/v1/models/x/activate", "/v1/feedback?limit=abc"]
    odd = ["\\ud800", "\\udfff", "\\u0000", "\u202e", "\u200b", "\ufeff", "\U0001f4a3", "\\ud83d\\ude00", "e\u0301"]
    wrong = [1, 1.5, True, None, [], {}, "x", [1, [2]], {"a": {"b": None}}, -(2**70), 1e308, ""]
    fields = ["text", "texts", "documents", "passages", "evidence", "labels", "items", "document_id"]
    out = []
    for i in range(n):
        kind = i % 10
        path = paths[rng.randrange(2)] if kind not in (8, 9) else rng.choice(paths)
        if kind == 0:  # deep nesting
            depth = rng.choice([65, 500, 999, 1000, 5000, 100_000])
            opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
            body = ('{"text": ' + opener * depth + "1" + closer * depth + "}").encode()
            out.append(("deep nesting", path, request("POST", path, body)))
        elif kind in (1, 2):  # wrong types
            body = {rng.choice(fields): rng.choice(wrong) for _ in range(rng.randint(1, 3))}
            if rng.random() < 0.5:
                body = {"documents": [{"id": rng.choice(wrong), "text": rng.choice(wrong)}]}
            out.append(("wrong types", path, request("POST", path, json.dumps(body).encode())))
        elif kind == 3:  # huge bodies, declared or chunked
            size = rng.choice([2_100_000, 3_000_000])
            if rng.random() < 0.5:
                body = b'{"text": "' + b"a" * size + b'"}'
                out.append(("huge body", path, request("POST", path, body)))
            else:
                body = b'{"text": "fine"}' + b" " * size
                out.append(("huge chunked body", path, request("POST", path, chunked(body),
                                                               {"Transfer-Encoding": "chunked"})))  # fmt: skip
        elif kind == 4:  # chunked oddities
            body = rng.choice([b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", chunked(PREDICT, 3),
                               b"3;ext=" + b"x" * 5000 + b"\r\nabc\r\n0\r\n\r\n"])  # fmt: skip
            out.append(("chunked", path, request("POST", path, body, {"Transfer-Encoding": "chunked"})))
        elif kind in (5, 6):  # odd Unicode, as JSON escapes and as raw bytes
            text = "".join(rng.choice(odd) for _ in range(rng.randint(1, 5)))
            body = ('{"text": "a' + text + '", "labels": []}').encode("utf-8", "surrogatepass")
            if rng.random() < 0.3:
                body = rng.choice([b'{"text": "\xff\xfe"}', b'{"text": "\xed\xa0\x80"}', b"\xef\xbb\xbf" + PREDICT])
            out.append(("odd unicode", path, request("POST", path, body)))
        elif kind == 7:  # short or wrong Content-Length
            declared = rng.choice([len(PREDICT) + 50, len(PREDICT) - 5, -1, "abc", "1, 2"])
            raw = request("POST", path, PREDICT, {"Content-Length": str(declared)})
            out.append(("content-length", path, raw))
        elif kind == 8:  # bad headers and request lines
            raw = rng.choice(
                [
                    request("POST", path, PREDICT, {"Bad Header": "x"}),
                    request("POST", path, PREDICT, {"X-Big": "a" * 10_000}),
                    request("POST", path, PREDICT, {f"X-{j}": "v" for j in range(150)}),
                    request("POST", path, PREDICT, {"Content-Type": "text/plain"}),
                    request("POST", path, PREDICT, {"Transfer-Encoding": "gzip, chunked"}),
                    request("POST", path, PREDICT, {"Authorization": "Bearer \x01\x02"}),
                    request("POST", path, PREDICT, {"X-Request-ID": "a" * 500}),
                    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"BREW /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64),
                ]
            )
            out.append(("bad headers", path, raw))
        else:  # odd paths and queries
            raw = request(rng.choice(["GET", "DELETE", "POST", "PUT"]), rng.choice(
                ["/v1/feedback/99999999999999999999999", "/v1/jobs/%00", "/v1/feedback?since=%ff", "/v1/%2e%2e/x",
                 "/v1/feedback?limit=" + "9" * 40, "/v1/models/..%2F..%2Fetc/activate"]), b"")  # fmt: skip
            out.append(("odd paths", path, raw))
    return out


def json_error(body: bytes) -> bool:
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and set(value) == {"error"}
        and isinstance(value["error"], dict)
        and set(value["error"]) == {"code", "message"}
    )


async def hostile_phase(port: int, n: int, concurrency: int, seed: int) -> dict:
    todo = hostile_requests(n, random.Random(seed))
    statuses: Counter = Counter()
    by_category: dict[str, Counter] = {}
    not_json, server_errors, examples = 0, 0, []
    queue = list(enumerate(todo))

    async def worker():
        nonlocal not_json, server_errors
        while queue:
            _, (category, _path, raw) = queue.pop()
            try:
                status, _headers, body = await exchange(port, raw, timeout=30)
            except (OSError, TimeoutError) as exc:
                status, _headers, body = f"no answer ({type(exc).__name__})", {}, b""
            key = status if status is not None else "closed without an answer"
            statuses[key] += 1
            by_category.setdefault(category, Counter())[key] += 1
            if isinstance(status, int) and status >= 500:
                server_errors += 1
                examples.append((category, raw[:120], body[:200]))
            if isinstance(status, int) and status >= 400 and not json_error(body):
                not_json += 1
                examples.append((category, raw[:120], body[:200]))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "statuses": statuses,
        "by_category": by_category,
        "not_json": not_json,
        "server_errors": server_errors,
        "examples": examples[:5],
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--slow-clients", type=int, default=50)
    parser.add_argument("--slow-seconds", type=float, default=20.0)
    parser.add_argument("--hostile", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    port = args.port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="hta-hostile-"))
    server = start_server(port, tmp, args.models_dir, args.workers)
    ok = True
    try:
        if args.slow_clients and args.slow_seconds:
            slow = asyncio.run(slow_phase(port, args.slow_clients, min(args.slow_seconds, 120)))
            lat = slow["latencies"]
            worst = max(lat) if lat else float("nan")
            print(
                f"slow clients: {args.slow_clients} for {args.slow_seconds:g} s ({slow['connections']} connections "
                f"opened); normal predicts: {len(lat)} sent, {len(slow['failures'])} failed, "
                f"p50 {statistics.median(lat) * 1000:.1f} ms, max {worst * 1000:.1f} ms"
            )
            ok &= not slow["failures"] and worst < 2.0 and len(lat) > 0
        if args.hostile:
            result = asyncio.run(hostile_phase(port, args.hostile, args.concurrency, args.seed))
            print(f"hostile requests: {args.hostile} in {result['seconds']:.1f} s; answers: "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items(), key=str)))  # fmt: skip
            for category, counts in sorted(result["by_category"].items()):
                print(f"  {category}: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))
            print(f"5xx answers: {result['server_errors']}; error answers not in the JSON shape: {result['not_json']}")
            for example in result["examples"]:
                print(f"  example: {example}")
            status, _, body = asyncio.run(exchange(port, request("POST", "/v1/predict", PREDICT)))
            print(f"normal predict afterwards: {status} {body[:80]!r}")
            ok &= result["server_errors"] == 0 and result["not_json"] == 0 and status == 200
    finally:
        stop(server)
    print(f"targets: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
