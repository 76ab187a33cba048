"""The store on both engines where their SQL differs (label filter, progress, the job check), and what only
PostgreSQL has: heartbeats judged across instances, the pointer row, a version whose files are not here yet."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest


def test_label_filter_progress_and_one_job_at_a_time(store_url):
    from service.store import RetrainRunning, Store

    store = Store(store_url).init()
    ids = store.add_feedback([{"text": "Saboteurs cut the cable.", "labels": ["sabotage_mention"]},
                              {"text": "We stand with Ukraine.", "labels": ["support_statement"]}])  # fmt: skip
    assert [row["id"] for row in store.list_feedback(label="support_statement")] == [ids[1]]
    assert store.list_feedback(label="hybrid_threat_warning") == []
    job_id = store.create_job("v1")
    store.add_progress(job_id, "read 2 feedback rows")
    store.add_progress(job_id, "training")
    assert [entry["message"] for entry in store.get_job(job_id)["progress"]] == ["read 2 feedback rows", "training"]
    with pytest.raises(RetrainRunning) as info:
        store.create_job("v1")
    assert info.value.job_id == job_id


@pytest.mark.slow
@pytest.mark.postgresql
def test_a_job_of_another_instance_is_interrupted_when_its_heartbeat_stops(postgres_url):
    from service.store import Store, now

    a = Store(postgres_url, heartbeat_seconds=2.0, instance="a").init()
    b = Store(postgres_url, heartbeat_seconds=2.0, instance="b")
    job_id = a.create_job("v1")
    a.update_job(job_id, state="running", pid=2**22 + 12345, started=now(), heartbeat=now(), instance="a")
    assert b.mark_interrupted() == []  # beating: another host's pid means nothing here
    old = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="milliseconds")
    a.update_job(job_id, heartbeat=old)
    assert b.mark_interrupted() == [job_id]
    job = b.get_job(job_id)
    assert job["state"] == "failed" and job["error"].startswith("interrupted: no heartbeat from instance a for 5")
    assert b.create_job("v1") != job_id  # a new retrain can start


@pytest.mark.slow
@pytest.mark.postgresql
def test_a_version_whose_files_are_not_here_yet_keeps_the_current_one_served(app_config, postgres_url, tmp_path):
    from service import create_app
    from service.store import write_pointer_row
    from tests.bundled_copies import copy_version

    app = create_app({**app_config, "DATABASE_URL": postgres_url})
    client = app.test_client()
    old = client.post("/v1/predict", json={"text": "Saboteurs cut the cable."}).get_json()["model_version"]
    staged = copy_version(tmp_path / "staging", "v-new")  # written on another host, not yet synced here
    write_pointer_row(app.extensions["hta_store"], "v-new", "gate")  # as that host's gate did
    pointer = app.extensions["hta_pointer"]
    until = time.time() + 10  # the listener hears the NOTIFY
    while pointer.state().current != "v-new" and time.time() < until:
        time.sleep(0.05)
    assert client.post("/v1/predict", json={"text": "Saboteurs cut the cable."}).get_json()["model_version"] == old
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "degraded" and ready["model_version"] == old and ready["waiting_for"] == "v-new"
    assert ready["current_version"] == "v-new" and ready["database"]["status"] == "ok"
    assert ready["reason"] == (f"version v-new is current but its files are not in {app_config['MODELS_DIR']} on "
                               f"this host yet; serving {old} until they appear")  # fmt: skip
    staged.rename(app_config["MODELS_DIR"] / "v-new")  # the files arrive
    assert client.post("/v1/predict", json={"text": "Saboteurs cut the cable."}).get_json()["model_version"] == "v-new"
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and "waiting_for" not in ready
