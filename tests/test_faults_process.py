"""Issue 11's "done when", against the real `python -m service` (gunicorn, 2 workers) under load: 4 clients
predict while the current model is corrupted, CURRENT is pointed at a missing version, the server is
restarted, and finally every version is broken. No response is a 5xx except the clear 503 once no good
version exists at all, and every response names a version that exists and was chosen by an operator or
the gate."""

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

from classifier.artifacts import SCORER_FILE, write_text_atomic
from classifier.versions import CURRENT_FILE, list_versions, set_current
from tests.bundled_copies import copy_version, corrupt
from tests.ports import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Saboteurs cut the undersea cable and officials warned of hybrid threats."


def request(base: str, method: str, path: str, body=None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Server:
    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log = open(log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(self.port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                if request(self.base, "GET", "/readyz", timeout=2)[0] in (200, 503):
                    return
            assert self.process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("server did not start")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


class Load:
    """4 clients predicting without pause; every answer is recorded with the phase it arrived in (each fault
    is injected after its phase begins, so an answer that arrived earlier cannot have seen it)."""

    def __init__(self, base: str, phase: str, clients: int = 4):
        # The first phase is set before the clients start: set after, a busy machine let the second server's
        # first answers be recorded under the first server's phase.
        self.base, self.phase, self.results = base, phase, []
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                status, body = request(self.base, "POST", "/v1/predict", {"text": TEXT})
            except OSError as exc:
                self.results.append((self.phase, "connection", repr(exc)))
                continue
            what = body.get("model_version") if status == 200 else body["error"]["code"]
            self.results.append((self.phase, status, what))

    def stop(self) -> list:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()
        return self.results


def test_faults_under_load_never_serve_a_version_nobody_chose(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    env = {
        **os.environ,
        "HTA_HOME": str(tmp_path / "home"),
        "HTA_MODELS_DIR": str(models),
        "HTA_BUNDLED_MODELS_DIR": "",
        "HTA_FEEDBACK_DB": str(tmp_path / "service.sqlite3"),
        "HTA_ACCESS_LOG": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    copy_version(models, "v1", "2030-01-01T00:00:00+00:00")
    copy_version(models, "v2", "2030-02-01T00:00:00+00:00")
    copy_version(models, "v-rejected", "2030-03-01T00:00:00+00:00")  # newest, but never chosen
    set_current(models, "v1", chosen_by="operator", bundled=None)
    set_current(models, "v2", chosen_by="gate", bundled=None)
    chosen = {"v1", "v2"}

    server = Server(env, tmp_path / "server1.log")
    load = Load(server.base, "start")
    try:
        time.sleep(2)
        load.phase = "corrupt-current"
        corrupt(models / "v2" / SCORER_FILE)
        time.sleep(3)
        load.phase = "dangling-current"
        write_text_atomic(models / CURRENT_FILE, "20990101T000000Z-deadbeef\n")
        time.sleep(3)
    finally:
        results = load.stop()
        server.stop()

    server = Server(env, tmp_path / "server2.log")  # restart with the bad CURRENT
    load = Load(server.base, "restarted")
    try:
        time.sleep(3)
        status, ready = request(server.base, "GET", "/readyz")
        assert status == 200
        assert (ready["status"], ready["model_version"], ready["current_version"], ready["fallback"]) == (
            "degraded",
            "v1",
            "20990101T000000Z-deadbeef",
            True,
        )
        load.phase = "nothing-good"
        corrupt(models / "v1" / SCORER_FILE)
        time.sleep(3)
    finally:
        results += load.stop()
        server.stop()

    log = (tmp_path / "server2.log").read_text()
    assert "service: WARNING: the current version 20990101T000000Z-deadbeef does not verify" in log
    assert "serving v1 (made current earlier by the operator)" in log
    assert "training the default model" not in log
    assert list_versions(models, bundled=None) == ["v1", "v2", "v-rejected"]  # nothing trained, nothing replaced
    assert (models / CURRENT_FILE).read_text() == "20990101T000000Z-deadbeef\n"

    by_phase: dict[str, set] = {}
    for phase, status, what in results:
        by_phase.setdefault(phase, set()).add((status, what))
    counts = {phase: sum(1 for r in results if r[0] == phase) for phase in by_phase}
    print("answers per phase:", counts, {p: sorted(map(str, v)) for p, v in by_phase.items()})
    assert all(counts[phase] > 10 for phase in ("start", "corrupt-current", "dangling-current", "restarted"))
    for phase, status, what in results:
        assert status != "connection", (phase, what)
        if status == 200:
            assert what in chosen, (phase, what)
        else:
            # the only error: the clear 503 once no good version exists, after the last one broke
            assert (phase, status, what) == ("nothing-good", 503, "model_unavailable")
    assert by_phase["start"] == {(200, "v2")}
    assert by_phase["restarted"] == {(200, "v1")}
    # once the corruption was seen, v1 everywhere (the first requests may still have been served by v2)
    assert (200, "v1") in by_phase["corrupt-current"]
    assert by_phase["dangling-current"] <= {(200, "v1"), (200, "v2")}
    assert (503, "model_unavailable") in by_phase["nothing-good"]
    last = [r for r in results if r[0] == "nothing-good"][-20:]
    assert {(status, what) for _, status, what in last} == {(503, "model_unavailable")}
