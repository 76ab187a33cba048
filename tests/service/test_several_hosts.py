"""Two `python -m service` instances on one PostgreSQL (issue 23's "done when"): their own HTA_HOME and ports, a
shared models directory, a throwaway cluster of their own (restarted mid-traffic)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.service.test_service_process import ADMIN, TEXT, Server, call, wait_job

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
HEARTBEAT = 3.0  # HTA_JOB_HEARTBEAT_SECONDS of both instances
PASSAGES = [f"Passage {n}: divers found explosives on the pipeline near the harbour." for n in range(6)]


@pytest.fixture
def cluster():
    """A PostgreSQL cluster of this test alone (it is restarted mid-test)."""
    from tests import postgres

    folder = postgres.binaries()
    if folder is None:
        pytest.skip(postgres.SKIP_REASON)
    cluster = postgres.Cluster(folder).start()
    yield cluster
    cluster.remove()


@pytest.fixture(autouse=True)
def _no_bundled_default(monkeypatch, corpus_slice):
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    monkeypatch.setenv("HTA_RETRAIN_DATA", str(corpus_slice))


def until(condition, limit: float, step: float = 0.1):
    """Poll `condition` until it returns something true, at most `limit` seconds; returns it (or fails)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {limit} s")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_two_instances_share_one_postgresql(cluster, models_copy, tmp_path):
    from service.analysts import add_analyst

    url = cluster.create_database()
    analysts = tmp_path / "analysts"
    tokens = {name: add_analyst(analysts, name, "analyst") for name in ("ana", "bob")}
    servers = {}

    def start(name: str) -> Server:
        env = {"HTA_DATABASE_URL": url, "HTA_HOME": str(tmp_path / f"home-{name}"), "HTA_INSTANCE": name,
               "HTA_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT), "HTA_DATABASE_TIMEOUT": "2",
               "HTA_POINTER_POLL_SECONDS": "1", "HTA_WORKERS": "1", "HTA_ANALYSTS_FILE": str(analysts)}  # fmt: skip
        servers[name] = Server(models_copy, tmp_path / f"unused-{name}.sqlite3", tmp_path / f"{name}.log",
                               extra_env=env)  # fmt: skip
        return servers[name]

    try:
        a, b = start("a"), start("b")
        # feedback posted to one is listed by the other
        status, _, body = call(a.base, "POST", "/v1/feedback", {"text": TEXT, "labels": ["sabotage_mention"]},
                               token=ADMIN)  # fmt: skip
        assert status == 201, body
        listed = call(b.base, "GET", "/v1/feedback", token=ADMIN)[2]["items"]
        assert [(row["id"], row["text"], row["labels"]) for row in listed] == [
            (body["ids"][0], TEXT, ["sabotage_mention"])
        ]

        # two analysts on two instances are given different passages
        assert call(a.base, "POST", "/v1/queue", {"passages": [{"text": t} for t in PASSAGES]}, token=ADMIN)[0] == 201
        got_a = call(a.base, "GET", "/v1/queue?limit=3", token=tokens["ana"])[2]["items"]
        got_b = call(b.base, "GET", "/v1/queue?limit=3", token=tokens["bob"])[2]["items"]
        assert len(got_a) == 3 and len(got_b) == 3
        assert not {item["id"] for item in got_a} & {item["id"] for item in got_b}

        # two retrains at once, one per instance: one 202, one 409 naming the running job
        answers = {}
        threads = [threading.Thread(target=lambda s=s: answers.__setitem__(s.base, call(s.base, "POST", "/v1/retrain",
                                                                                       token=ADMIN)))
                   for s in (a, b)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(answer[0] for answer in answers.values())
        assert statuses == [202, 409], answers
        started = next(answer[2]["job"] for answer in answers.values() if answer[0] == 202)
        refused = next(answer[2] for answer in answers.values() if answer[0] == 409)
        assert refused["error"] == {"code": "retrain_running",
                                    "message": f"retrain job {started['id']} is already running"}  # fmt: skip
        job = wait_job(b.base, started["id"])
        assert job["state"] == "rejected", job  # nothing new to learn: the gate keeps the current version

        # promotion is a row: the version made current on one is served by both from their next request
        candidate = job["candidate_version"]
        status, _, body = call(a.base, "POST", f"/v1/models/{candidate}/activate", token=ADMIN)
        assert status == 200 and body["serving"] == candidate, body
        for server in (a, b):
            until(lambda s=server: call(s.base, "POST", "/v1/predict", {"text": TEXT})[2]["model_version"] == candidate,
                  limit=3)  # fmt: skip
        assert call(b.base, "GET", "/v1/models")[2]["current"] == candidate

        # kill -9 of the instance running a job: the other marks it interrupted within the heartbeat period
        status, _, body = call(a.base, "POST", "/v1/retrain", token=ADMIN)
        assert status == 202, body
        job_id = body["job"]["id"]
        until(lambda: call(b.base, "GET", f"/v1/jobs/{job_id}")[2]["state"] == "running", limit=30)
        a.kill()
        killed = time.time()
        job = until(lambda: (j := call(b.base, "GET", f"/v1/jobs/{job_id}")[2])["state"] == "failed" and j,
                    limit=HEARTBEAT + 3)  # fmt: skip
        assert time.time() - killed <= HEARTBEAT + 3
        assert job["error"].startswith("interrupted: no heartbeat from instance a for "), job
        status, _, body = call(b.base, "POST", "/v1/retrain", token=ADMIN)
        assert status == 202, body
        assert wait_job(b.base, body["job"]["id"])["state"] == "rejected"

        # PostgreSQL restarts mid-traffic: what needs it answers 503 naming it, predicts go on, nothing is lost
        stored, failures, stop = [], [], threading.Event()

        def post_feedback():
            n = 0
            while not stop.is_set():
                n += 1
                status, _, body = call(b.base, "POST", "/v1/feedback", {"text": f"Cable cut {n}.", "labels": []},
                                       token=ADMIN)  # fmt: skip
                if status == 201:
                    stored.extend(body["ids"])
                elif status != 503 or body["error"]["code"] != "database_unavailable":
                    failures.append((status, body))
                time.sleep(0.05)

        writer = threading.Thread(target=post_feedback, daemon=True)
        writer.start()
        until(lambda: len(stored) >= 3, limit=10)
        cluster.stop("fast")
        try:
            status, _, body = call(b.base, "POST", "/v1/feedback", {"text": TEXT, "labels": []}, token=ADMIN)
            assert status == 503 and body["error"]["code"] == "database_unavailable", body
            assert body["error"]["message"].startswith(f"the database {url} is unavailable"), body
            for _ in range(5):
                status, _, body = call(b.base, "POST", "/v1/predict", {"text": TEXT})
                assert status == 200 and body["model_version"] == candidate
            status, _, ready = call(b.base, "GET", "/readyz")
            assert status == 200 and ready["status"] == "degraded" and ready["database"]["status"] == "unavailable"
        finally:
            cluster.start()
        count = len(stored)
        until(lambda: len(stored) > count + 2, limit=15)
        stop.set()
        writer.join()
        assert failures == []
        listed = call(b.base, "GET", "/v1/feedback?limit=1000", token=ADMIN)[2]["items"]
        assert set(stored) <= {row["id"] for row in listed}
        assert call(b.base, "GET", "/readyz")[2]["database"]["status"] == "ok"
    finally:
        for server in servers.values():
            if server.process.poll() is None:
                server.kill()
