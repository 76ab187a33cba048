"""The monitor and a shadow run under the real server (`python -m service`, gunicorn, two workers and the
shadow scorer process): per-source counts merged across workers in /metrics and GET /v1/monitor, and a shadow
version scoring live traffic without changing an answer."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request

import pytest

from tests.service.test_monitor import _metric
from tests.service.test_service_process import ADMIN, Server, call

pytestmark = pytest.mark.slow

FEEDS = {
    "wire-a": "Saboteurs cut the undersea cable and blew up the gas pipeline near the coast.",
    "wire-b": "We stand with Ukraine and will keep supporting its people with aid.",
}


def test_two_workers_count_sources_together_and_a_shadow_changes_no_answer(models_copy, tmp_path):
    from classifier.versions import current_version

    served = current_version(models_copy)
    shadow_dir = models_copy / "shadow-copy"
    shutil.copytree(models_copy / served, shadow_dir)
    manifest = json.loads((shadow_dir / "manifest.json").read_text())
    manifest["version"] = "shadow-copy"
    manifest["thresholds_by_language"] = {"en": {label: 0.01 for label in manifest["labels"]}}  # decides otherwise
    (shadow_dir / "manifest.json").write_text(json.dumps(manifest))
    server = Server(models_copy, tmp_path / "service.sqlite3", tmp_path / "server.log",
                    extra_env={"HTA_HOME": str(tmp_path / "home")})  # fmt: skip
    try:
        base = server.base
        answers: dict[str, list] = {name: [] for name in FEEDS}
        failures: list = []

        def send(name: str, n: int) -> None:
            for i in range(n):
                status, _, body = call(base, "POST", "/v1/predict", {"text": f"{FEEDS[name]} ({i})", "source": name})
                (answers[name] if status == 200 else failures).append(body)

        threads = [threading.Thread(target=send, args=(name, 40)) for name in FEEDS for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures
        time.sleep(1.5)  # every worker's flusher has run (every 0.5 s)
        with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
            text = response.read().decode()
        status, _, report = call(base, "GET", "/v1/monitor")
        assert status == 200
        for name, bodies in answers.items():
            passages = sum(len(b["results"][0]["passages"]) for b in bodies)
            alerts = {}
            for body in bodies:
                for passage in body["results"][0]["passages"]:
                    for label in passage["labels"]:
                        alerts[label] = alerts.get(label, 0) + 1
            assert passages >= 80
            assert _metric(text, "hta_source_passages_scored_total", source=name) == passages
            assert report["sources"][name]["passages"] == passages
            for label, entry in report["sources"][name]["labels"].items():
                assert _metric(text, "hta_passage_alerts_total", label=label, source=name) == alerts.get(label, 0)
                assert entry["alerts"] == alerts.get(label, 0)
        assert sorted(report["sources_tracked"]) == sorted(FEEDS)

        # a shadow run under gunicorn: the scorer process takes every request; no answer changes
        plain = [call(base, "POST", "/v1/predict", {"text": text})[2] for text in FEEDS.values()]
        status, _, started = call(base, "POST", "/v1/models/shadow-copy/shadow", {"share": 1.0}, token=ADMIN)
        assert status == 201, started
        time.sleep(1.2)  # every worker has re-read the run file (at most once a second)
        shadowed = [call(base, "POST", "/v1/predict", {"text": text})[2] for text in FEEDS.values()]
        assert shadowed == plain
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shadow = call(base, "GET", "/v1/shadow", token=ADMIN)[2]
            if shadow["requests"] >= len(FEEDS):
                break
            time.sleep(0.2)
        assert shadow["requests"] == len(FEEDS) and shadow["dropped_requests"] == 0
        assert any(entry["shadow_alerts"] > entry["current_alerts"] for entry in shadow["labels"].values())
    finally:
        server.kill()
