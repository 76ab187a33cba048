"""`python -m service` as a real gunicorn subprocess: predict, feedback, retrain, promotion, rollback,
zero failed requests during a switch, and a kill during a retrain."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from classifier.versions import current_version, list_versions
from tests.ports import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_bundled_default(monkeypatch, corpus_slice):
    """The servers and the listings here see only the test's models directory, and retrain on the data the
    test model was trained on (so a retrain with nothing new reproduces it)."""
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    monkeypatch.setenv("HTA_RETRAIN_DATA", str(corpus_slice))


ROOT = Path(__file__).resolve().parents[2]
ADMIN = "process-admin-token"
TEXT = "Officials warned of sabotage against undersea cables by hostile state actors."


def call(base: str, method: str, path: str, body=None, token: str | None = None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


class Server:
    def __init__(
        self,
        models_dir: Path,
        db: Path,
        log: Path,
        ready_timeout: float = 60,
        extra_env: dict | None = None,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "HTA_MODELS_DIR": str(models_dir),
            "HTA_FEEDBACK_DB": str(db),
            "HTA_ADMIN_TOKEN": ADMIN,
            "HTA_LABELS_OPEN": "true",  # the single-user set-up: labels without a named token
            "HTA_RETRAIN_CV": "2",
            "HTA_PORT": str(self.port),
            "HTA_WORKERS": "2",
            **(extra_env or {}),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = open(log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + ready_timeout
        while time.time() < deadline:
            try:
                if call(self.base, "GET", "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("server did not become ready")

    def kill(self, sig=signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)
        self.log.close()


def wait_job(base: str, job_id: str, limit: float = 240) -> dict:
    deadline = time.time() + limit
    while time.time() < deadline:
        status, _, job = call(base, "GET", f"/v1/jobs/{job_id}")
        assert status == 200
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_server_end_to_end(models_copy, tmp_path):
    db = tmp_path / "service.sqlite3"
    server = Server(models_copy, db, tmp_path / "server.log")
    stop, threads = threading.Event(), []  # the request threads stop in `finally` even when an assert fails
    try:
        base = server.base
        first = current_version(models_copy)
        status, headers, body = call(base, "POST", "/v1/predict", {"documents": [{"id": "a", "text": TEXT}]})
        assert status == 200 and body["model_version"] == first and headers["X-Model-Version"] == first
        assert headers["X-Request-ID"]
        assert call(base, "POST", "/v1/retrain")[0] == 401

        existing = set(list_versions(models_copy))
        seen, failures = [], []

        def hammer():
            while not stop.is_set():
                try:
                    status, headers, body = call(base, "POST", "/v1/predict", {"texts": [TEXT, "Fine weather."]})
                    if status != 200 or headers.get("X-Model-Version") != body["model_version"]:
                        failures.append((status, body))
                    else:
                        seen.append(body["model_version"])
                except Exception as exc:
                    failures.append(repr(exc))

        threads += [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        status, headers, body = call(base, "POST", "/v1/retrain", token=ADMIN)
        assert status == 202, body
        job_id = body["job"]["id"]
        assert call(base, "POST", "/v1/retrain", token=ADMIN)[0] == 409
        job = wait_job(base, job_id)
        # Nothing new (no feedback yet): the gate rejects the reproduced model, deterministically; an
        # operator's activation then switches versions while requests flow.
        assert job["state"] == "rejected", job
        assert job["verdict"]["decision"].startswith("rejected: nothing new to learn"), job["verdict"]
        candidate = job["candidate_version"]
        assert call(base, "POST", f"/v1/models/{candidate}/activate", token=ADMIN)[0] == 200
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        status, _, body = call(base, "POST", "/v1/feedback", {"text": TEXT, "labels": ["sabotage_mention"]})
        assert status == 201 and body["stored"] == 1
        assert failures == []
        assert len(seen) > 20
        versions = set(list_versions(models_copy))
        assert set(seen) <= versions and versions == existing | {candidate}
        assert seen[-1] == candidate
        assert current_version(models_copy) == candidate

        # rollback
        status, _, body = call(base, "POST", f"/v1/models/{first}/activate", token=ADMIN)
        assert status == 200 and body["current"] == first
        for _ in range(6):  # every worker follows on its next request
            assert call(base, "POST", "/v1/predict", {"text": TEXT})[2]["model_version"] == first
        with urllib.request.urlopen(base + "/metrics") as response:
            metrics = response.read().decode()
        assert 'route="/v1/predict",status="200"' in metrics
        assert f'hta_model_current_info{{version="{first}"}} 1.0' in metrics
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.kill()


def test_kill_during_retrain(models_copy, tmp_path):
    db = tmp_path / "service.sqlite3"
    first = current_version(models_copy)
    server = Server(models_copy, db, tmp_path / "server1.log")
    try:
        status, _, body = call(server.base, "POST", "/v1/retrain", token=ADMIN)
        assert status == 202
        job_id = body["job"]["id"]
        deadline = time.time() + 60  # the job process starts (slowly on a loaded machine) and trains
        while call(server.base, "GET", f"/v1/jobs/{job_id}")[2]["state"] == "queued" and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        assert call(server.base, "GET", f"/v1/jobs/{job_id}")[2]["state"] == "running"
    finally:
        server.kill()
    time.sleep(1.5)  # the job notices the server is gone
    server = Server(models_copy, db, tmp_path / "server2.log")
    try:
        assert current_version(models_copy) == first
        assert list_versions(models_copy) == [first]
        status, _, body = call(server.base, "POST", "/v1/predict", {"text": TEXT})
        assert status == 200 and body["model_version"] == first
        job = call(server.base, "GET", f"/v1/jobs/{job_id}")[2]
        assert job["state"] == "failed" and job["error"] == "interrupted"
    finally:
        server.kill()


def test_first_start_without_a_model_trains_the_default_one(tmp_path):
    models = tmp_path / "empty-models"
    server = Server(models, tmp_path / "service.sqlite3", tmp_path / "server.log", ready_timeout=300)
    try:
        version = current_version(models)
        assert version is not None and list_versions(models) == [version]
        status, headers, body = call(server.base, "POST", "/v1/predict", {"text": TEXT})
        assert status == 200 and body["model_version"] == version == headers["X-Model-Version"]
    finally:
        server.kill(signal.SIGTERM)
    log = (tmp_path / "server.log").read_text()
    assert f"service: no model at all in {models}; training the default model from the bundled corpus" in log
    assert f"service: trained {version} and made it current" in log
