"""Hostile, slow and careless clients against the real `python -m service` (gunicorn) process; slow tests.

The full-size runs (3,000 hostile requests, 50 slow clients for 20 s) are bench/bench_hostile.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.service.test_service_process import ROOT, Server, call, free_port

pytestmark = pytest.mark.slow

sys.path.insert(0, str(ROOT / "bench"))
import bench_hostile  # noqa: E402

TEXT = "Officials warned of sabotage against undersea cables by hostile state actors."


@pytest.fixture
def server(models_copy, tmp_path):
    running = Server(
        models_copy,
        tmp_path / "service.sqlite3",
        tmp_path / "server.log",
        extra_env={"HTA_READ_TIMEOUT": "2", "HTA_MAX_BODY_BYTES": "100000", "HOME": str(tmp_path)},
    )
    yield running
    running.kill(signal.SIGTERM)


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> tuple[int | None, dict, bytes]:
    return asyncio.run(bench_hostile.exchange(port, data, timeout=timeout))


def test_oversize_body_gets_the_413_not_a_broken_pipe(server):
    request = urllib.request.Request(
        server.base + "/v1/predict",
        data=json.dumps({"text": "x" * 1_000_000}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    assert json.loads(caught.value.read()) == {
        "error": {
            "code": "payload_too_large",
            "message": "the declared Content-Length 1000012 is over the limit of 100000 bytes",
        }
    }


def test_chunked_bodies_are_bounded(server):
    body = b'{"text": "fine"}' + b" " * 300_000
    status, headers, answer = raw_exchange(
        server.port,
        bench_hostile.request("POST", "/v1/predict", bench_hostile.chunked(body), {"Transfer-Encoding": "chunked"}),
    )
    assert status == 413 and headers["connection"] == "close"
    assert json.loads(answer)["error"]["message"] == "the request body is over the limit of 100000 bytes"
    small = bench_hostile.chunked(b'{"text": "' + TEXT.encode() + b'"}', 7)
    status, _, answer = raw_exchange(
        server.port, bench_hostile.request("POST", "/v1/predict", small, {"Transfer-Encoding": "chunked"})
    )
    assert status == 200 and json.loads(answer)["results"][0]["labels"]
    bad = b"zz\r\nabc\r\n0\r\n\r\n"
    status, _, answer = raw_exchange(
        server.port, bench_hostile.request("POST", "/v1/predict", bad, {"Transfer-Encoding": "chunked"})
    )
    assert status == 400 and json.loads(answer)["error"]["code"] in ("invalid_body", "bad_request")


def test_short_content_length_is_answered_promptly(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(bench_hostile.request("POST", "/v1/predict", b'{"text": "x"}', length=100))
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        elapsed = time.monotonic() - started
    status, _, body = bench_hostile.parse_response(answer)
    assert status == 400
    assert json.loads(body)["error"] == {
        "code": "incomplete_body",
        "message": "the request body (Content-Length 100) stopped before its end: closed, or not sent within "
        "the read timeout",
    }
    assert elapsed < 4  # the read deadline is 2 s here


def test_deep_nesting_and_odd_text_over_the_wire(server):
    deep = b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for path in ("/v1/predict", "/v1/feedback"):
        status, _, body = raw_exchange(server.port, bench_hostile.request("POST", path, deep))
        assert status == 400 and json.loads(body)["error"]["code"] == "json_too_deep"
    status, _, body = raw_exchange(
        server.port, bench_hostile.request("POST", "/v1/feedback", b'{"text": "\\ud800", "labels": []}')
    )
    assert status == 400
    assert json.loads(body)["error"] == {
        "code": "invalid_text",
        "message": "text: contains a lone surrogate (U+D800) at character 0: not valid Unicode text",
    }


def test_gunicorn_errors_are_json_over_the_wire(server):
    status, headers, body = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": {"code": "bad_request", "message": "Invalid HTTP Header: 'Bad Header'"}}


def test_slow_clients_do_not_starve_the_service(server):
    result = asyncio.run(bench_hostile.slow_phase(server.port, clients=30, seconds=8))
    assert result["failures"] == []
    assert len(result["latencies"]) >= 10
    assert max(result["latencies"]) < 2.0, sorted(result["latencies"])[-5:]


def test_hostile_requests_no_5xx_and_json_errors(server):
    result = asyncio.run(bench_hostile.hostile_phase(server.port, n=300, concurrency=4, seed=3))
    assert result["server_errors"] == 0, result["examples"]
    assert result["not_json"] == 0, result["examples"]
    assert call(server.base, "POST", "/v1/predict", {"text": TEXT})[0] == 200


def test_restart_after_kill_9_of_the_master_gets_the_port(models_copy, tmp_path):
    first = Server(models_copy, tmp_path / "db.sqlite3", tmp_path / "one.log", extra_env={"HOME": str(tmp_path)})
    port = first.port
    os.kill(first.process.pid, signal.SIGKILL)  # the master only: its workers must follow
    first.process.wait(timeout=10)
    first.log.close()
    started = time.monotonic()
    second = Server(models_copy, tmp_path / "db.sqlite3", tmp_path / "two.log", port=port)
    try:
        assert time.monotonic() - started < 20
        assert call(second.base, "POST", "/v1/predict", {"text": TEXT})[0] == 200
    finally:
        second.kill(signal.SIGTERM)


def test_port_taken_is_an_error_without_serving_on(models_copy, tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = {**os.environ, "HTA_MODELS_DIR": str(models_copy), "HTA_FEEDBACK_DB": str(tmp_path / "db.sqlite3")}
        result = subprocess.run(
            [sys.executable, "-m", "service", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"error: 127.0.0.1:{port} is already in use" in result.stderr
    assert "serving on" not in result.stderr + result.stdout


def test_no_shared_control_socket(models_copy, tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    one = Server(models_copy, tmp_path / "db.sqlite3", tmp_path / "one.log", extra_env=env)
    try:
        assert not (home / ".gunicorn").exists()
        own = tmp_path / "own.ctl"
        two = Server(models_copy, tmp_path / "db.sqlite3", tmp_path / "two.log",
                     extra_env={**env, "HTA_CONTROL_SOCKET": str(own)})  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not own.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert own.is_socket()
        finally:
            two.kill(signal.SIGTERM)
        assert call(one.base, "GET", "/healthz")[0] == 200
    finally:
        one.kill(signal.SIGTERM)


def test_bench_script_runs(models_copy):
    """The bench script end to end, small."""
    result = subprocess.run(
        [sys.executable, "bench/bench_hostile.py", "--models-dir", str(models_copy), "--slow-clients", "6",
         "--slow-seconds", "3", "--hostile", "100", "--workers", "2", "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5xx answers: 0; error answers not in the JSON shape: 0" in result.stdout
    assert "targets: met" in result.stdout
