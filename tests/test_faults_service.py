"""Fault injection against the service in-process (issue 11): broken model versions on disk, the start-up
checks, and SQLite on a full, read-only, corrupt or locked database. Each worker is simulated by its own
`ModelCache`: they must all serve the same version.

The full-disk and read-only cases mount a small tmpfs under a temporary directory (root only; skipped
with the reason elsewhere) and unmount it afterwards."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from classifier.artifacts import MANIFEST_FILE, SCORER_FILE
from classifier.config import BUNDLED_MODELS_DIR
from classifier.versions import CURRENT_FILE, read_pointer, set_current
from service.model_cache import ModelCache, NoModel
from tests.bundled_copies import BUNDLED_VERSION, copy_version, corrupt

ADMIN = "fault-admin-token"
TEXT = "Saboteurs cut the undersea cable."


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """v1 then v2 made current (v2 by the gate), and a rejected candidate; no bundled default."""
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    monkeypatch.setenv("HTA_HOME", str(tmp_path / "home"))
    directory = tmp_path / "models"
    directory.mkdir()
    copy_version(directory, "v1", "2030-01-01T00:00:00+00:00")
    copy_version(directory, "v2", "2030-02-01T00:00:00+00:00")
    copy_version(directory, "v-rejected", "2030-03-01T00:00:00+00:00")
    set_current(directory, "v1", chosen_by="operator")
    set_current(directory, "v2", chosen_by="gate")
    return directory


@pytest.fixture
def config(models, tmp_path) -> dict:
    return {
        "TESTING": True,
        "MODELS_DIR": models,
        "FEEDBACK_DB": tmp_path / "db" / "service.sqlite3",
        "ADMIN_TOKEN": ADMIN,
        "LABELS_OPEN": True,  # these tests are about storage faults, not tokens
        "ACCESS_LOG": False,
        "MODEL_RECHECK_SECONDS": 0,  # every file at every request; the period itself is tested below
    }


def make_client(config: dict):
    from service import create_app

    return create_app(config).test_client()


def predict_version(client) -> tuple[int, str | None]:
    response = client.post("/v1/predict", json={"text": TEXT})
    body = response.get_json()
    return response.status_code, body.get("model_version") if response.status_code == 200 else body["error"]["code"]


def touch_later(path: Path) -> None:
    """Make sure a rewrite is seen as a change even on a file system with coarse timestamps."""
    later = time.time() + 2
    os.utime(path, (later, later))


# model cache


def test_corrupt_current_scorer_every_worker_serves_the_same_last_good_version(config, models):
    loaded_before = ModelCache(models, bundled=None)  # a worker that had loaded v2 before the corruption
    assert loaded_before.current().version == "v2"
    corrupt(models / "v2" / SCORER_FILE)
    touch_later(models / "v2" / SCORER_FILE)
    fresh = ModelCache(models, bundled=None)  # a worker started after it
    assert loaded_before.current().version == fresh.current().version == "v1"
    client = make_client(config)
    assert predict_version(client) == (200, "v1")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert (body["status"], body["model_version"], body["current_version"], body["fallback"]) == (
        "degraded",
        "v1",
        "v2",
        True,
    )
    assert body["reason"].startswith("the current version v2 does not verify: ")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'hta_model_serving_info{current="v2",version="v1"} 1.0' in metrics
    assert "hta_model_fallback 1.0" in metrics
    assert "hta_model_available 1.0" in metrics
    # the operator repairs the version: every worker goes back to it
    shutil.copy(BUNDLED_MODELS_DIR / BUNDLED_VERSION / SCORER_FILE, models / "v2" / SCORER_FILE)
    assert loaded_before.current().version == fresh.current().version == "v2"
    assert client.get("/readyz").get_json()["status"] == "ready"


def test_pointer_files_every_request_version_files_once_per_recheck_period(models, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("service.model_cache.time.monotonic", lambda: clock[0])
    worker = ModelCache(models, bundled=None, recheck_seconds=1.0)
    assert worker.current().version == "v2"
    corrupt(models / "v2" / SCORER_FILE)
    touch_later(models / "v2" / SCORER_FILE)
    clock[0] += 0.5
    assert worker.current().version == "v2"  # a file damaged in place: not yet re-checked
    clock[0] += 0.6
    assert worker.current().version == "v1"  # the period passed: refused, the last good version served
    shutil.copy(BUNDLED_MODELS_DIR / BUNDLED_VERSION / SCORER_FILE, models / "v2" / SCORER_FILE)
    set_current(models, "v1", chosen_by="operator")  # a rollback: seen at once, whatever the period
    assert worker.current().version == "v1" and worker.state()["fallback"] is False
    set_current(models, "v2", chosen_by="operator")
    assert worker.current().version == "v2"


def test_dangling_current_serves_the_last_good_version_everywhere(config, models):
    workers = [ModelCache(models, bundled=None) for _ in range(3)]
    assert workers[0].current().version == "v2"
    (models / CURRENT_FILE).write_text("20990101T000000Z-deadbeef\n")
    assert {w.current().version for w in workers} == {"v2"}
    states = [w.state() for w in workers]
    assert all(s["fallback"] and s["current"] == "20990101T000000Z-deadbeef" for s in states)
    assert predict_version(make_client(config)) == (200, "v2")


def test_edited_manifest_version_is_never_named_in_a_response(config, models):
    path = models / "v2" / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["version"] = "20991231T000000Z-ffffffff"
    path.write_text(json.dumps(manifest))
    client = make_client(config)
    status, version = predict_version(client)
    assert (status, version) == (200, "v1")
    assert client.get("/v1/model").get_json()["version"] == "v1"


def test_activate_of_a_symlink_out_of_models_is_refused(config, models, tmp_path):
    outside = copy_version(tmp_path, "v-outside", "2031-01-01T00:00:00+00:00")
    (models / "v-outside").symlink_to(outside, target_is_directory=True)
    client = make_client(config)
    response = client.post("/v1/models/v-outside/activate", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "invalid_model",
        "message": f"model version 'v-outside' cannot be loaded: {models / 'v-outside'}: resolves to {outside}, "
        f"outside the models directory {models}; refusing it",
    }
    assert read_pointer(models) == "v2"


def test_no_good_version_at_all_is_a_clear_503_everywhere(config, models):
    for name in ("v1", "v2"):
        corrupt(models / name / SCORER_FILE)
    client = make_client(config)
    response = client.post("/v1/predict", json={"text": TEXT})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "model_unavailable"
    assert error["message"].startswith("no model loaded: the current version v2 does not verify: ")
    assert error["message"].endswith("and no earlier version chosen by an operator or the gate verifies")
    assert client.get("/readyz").status_code == 503
    assert "hta_model_available 0.0" in client.get("/metrics").get_data(as_text=True)
    with pytest.raises(NoModel):
        ModelCache(models, bundled=None).current()


def test_fallback_off_answers_503(config, models):
    corrupt(models / "v2" / SCORER_FILE)
    client = make_client({**config, "MODEL_FALLBACK": False})
    assert predict_version(client) == (503, "model_unavailable")


# start-up


def test_restart_with_bad_current_serves_the_last_good_and_never_trains(config, models, monkeypatch, capsys):
    from service import startup

    monkeypatch.setattr(startup, "train_default_model", lambda models_dir, progress: pytest.fail("must not train"))
    (models / CURRENT_FILE).write_text("v-missing\n")
    assert startup.run_checks(config) == "v2"
    err = capsys.readouterr().err
    assert (
        "service: WARNING: the current version v-missing does not verify: model version 'v-missing' not found in "
        f"{models}; serving v2 (made current earlier by the gate) until CURRENT names a version that verifies"
    ) in err
    assert read_pointer(models) == "v-missing"  # the operator's choice is left as it is


def test_restart_with_bad_current_and_no_fallback_refuses_to_start(config, models, monkeypatch):
    from service import startup

    monkeypatch.setattr(startup, "train_default_model", lambda models_dir, progress: pytest.fail("must not train"))
    corrupt(models / "v2" / SCORER_FILE)
    with pytest.raises(startup.StartupError) as info:
        startup.run_checks({**config, "MODEL_FALLBACK": False})
    message = str(info.value)
    assert message.startswith("no model version can be served: the current version v2 does not verify: ")
    assert "falling back to an earlier version is off (HTA_MODEL_FALLBACK=false)" in message
    assert message.endswith(
        f"Fix or replace the files of v2, or make a good version current (write its name to {models / CURRENT_FILE}); "
        "versions on disk: v1, v2, v-rejected. The service never replaces the current version by itself."
    )


def test_start_up_trains_only_when_there_is_no_model_at_all(tmp_path, monkeypatch):
    from service import startup

    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    empty = tmp_path / "models"
    trained = []

    def fake_train(models_dir, progress):
        trained.append(models_dir)
        copy_version(models_dir, "v-default", "2030-01-01T00:00:00+00:00")
        set_current(models_dir, "v-default", chosen_by="training", bundled=None)

    monkeypatch.setattr(startup, "train_default_model", fake_train)
    config = {"MODELS_DIR": empty, "BUNDLED_MODELS_DIR": None, "FEEDBACK_DB": tmp_path / "db.sqlite3"}
    empty.mkdir()
    assert startup.run_checks(config) == "v-default"
    assert trained == [empty]
    # versions on disk but none current: not "no model at all", so no training either
    (empty / CURRENT_FILE).unlink()
    (empty / "HISTORY").unlink()
    with pytest.raises(startup.StartupError, match="no model version can be served"):
        startup.run_checks(config)
    assert trained == [empty]


def test_start_up_removes_leftovers_of_killed_jobs(config, models, monkeypatch, tmp_path):
    from service import startup

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    old_model_tmp, new_model_tmp = models / ".tmp-v3-abc", models / ".tmp-v4-def"
    old_retrain, new_retrain = tmp_path / "tmp" / "hta-retrain-old", tmp_path / "tmp" / "hta-retrain-new"
    for path in (old_model_tmp, new_model_tmp, old_retrain, new_retrain):
        path.mkdir()
        (path / "feedback.jsonl").write_text('{"text": "secret"}\n')
    past = time.time() - 7 * 3600
    for path in (old_model_tmp, old_retrain):
        os.utime(path, (past, past))
    removed = startup.clean_leftovers(config)
    assert sorted(removed) == sorted([old_model_tmp, old_retrain])
    assert new_model_tmp.exists() and new_retrain.exists()
    assert not old_model_tmp.exists() and not old_retrain.exists()


# storage


def post_feedback(client, text: str = TEXT, copies: int = 1):
    """Post `copies` feedback items of `text` in one request."""
    items = [{"text": text, "labels": ["sabotage_mention"]} for _ in range(copies)]
    return client.post("/v1/feedback", json={"items": items})


def test_corrupt_database_is_503_and_start_up_says_so(config, caplog):
    from service import startup

    client = make_client(config)
    assert post_feedback(client).status_code == 201
    db = config["FEEDBACK_DB"]
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not an sqlite database at all" * 200)
    with caplog.at_level(logging.ERROR, logger="service"):
        response = post_feedback(client)
    assert response.status_code == 503
    assert response.get_json()["error"] == {
        "code": "storage_corrupt",
        "message": f"the feedback database {db} is not an SQLite database (corrupt or overwritten) "
        "(file is not a database)",
    }
    assert "storage failure answered 503 storage_corrupt: DatabaseError('file is not a database')" in caplog.text
    with pytest.raises(startup.StartupError) as info:
        startup.check_database(config)
    assert str(info.value) == (
        f"the feedback database {db} is not an SQLite database (corrupt or overwritten) (file is not a database). "
        "Set HTA_FEEDBACK_DB to a writable file, or repair or move the file away."
    )


def test_damaged_pages_are_found_by_the_start_up_check(tmp_path):
    from service import startup
    from service.store import Store

    db = tmp_path / "service.sqlite3"
    store = Store(db).init()
    store.add_feedback([{"text": f"row {i} " + "x" * 500, "labels": []} for i in range(200)])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # scribble over every b-tree page header but the first
        data[start : start + 8] = b"\xff" * 8
    db.write_bytes(bytes(data))
    with pytest.raises(startup.StartupError) as info:
        startup.check_database({"FEEDBACK_DB": db})
    assert str(info.value).startswith(f"the feedback database {db} is corrupt")


def test_locked_database_is_503_busy_with_retry_after(config):
    from service.store import StorageError, Store

    store = Store(config["FEEDBACK_DB"], busy_timeout=0.1).init()
    blocker = sqlite3.connect(config["FEEDBACK_DB"], isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError) as info:
            store.add_feedback([{"text": TEXT, "labels": []}])
    finally:
        blocker.close()
    assert (info.value.status, info.value.code, info.value.retry_after) == (503, "storage_busy", 1)
    assert info.value.message == (
        f"the feedback database {config['FEEDBACK_DB']} is locked; retry shortly (database is locked)"
        if info.value.__cause__.sqlite_errorcode & 0xFF == 6
        else f"the feedback database {config['FEEDBACK_DB']} is busy (locked by another process for too long); "
        "retry shortly (database is locked)"
    )
    assert store.add_feedback([{"text": TEXT, "labels": []}]) == [1]


def _mount_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs these tests as root)")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    _mount_tmpfs(mount, "1m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> None:
    with open(directory / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC: the disk is full now


def test_full_disk_is_507_naming_the_cause(config, small_disk, caplog):
    config = {**config, "FEEDBACK_DB": small_disk / "service.sqlite3"}
    client = make_client(config)
    assert post_feedback(client).status_code == 201
    fill(small_disk)
    with caplog.at_level(logging.ERROR, logger="service"):
        response = post_feedback(client, "A long correction. " * 100, copies=50)  # ~95 kB: more than is free
    assert response.status_code == 507
    error = response.get_json()["error"]
    assert error["code"] == "storage_full"
    assert error["message"] in (
        f"the feedback database {config['FEEDBACK_DB']} cannot grow: the disk is full (database or disk is full)",
        f"the feedback database {config['FEEDBACK_DB']} cannot grow: the disk is full (disk I/O error)",
    )
    assert "cannot rollback" not in caplog.text
    assert "storage failure answered 507 storage_full: " in caplog.text
    (small_disk / "filler").unlink()
    assert post_feedback(client).status_code == 201  # nothing was lost, and it recovers


def test_read_only_database_is_503_and_start_up_says_so(config, small_disk):
    from service import startup

    config = {**config, "FEEDBACK_DB": small_disk / "service.sqlite3"}
    client = make_client(config)
    assert post_feedback(client).status_code == 201
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    response = post_feedback(client)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "storage_read_only", error
    assert error["message"].startswith(
        f"the feedback database {config['FEEDBACK_DB']} is read-only (file, directory or file system); "
        "nothing can be stored ("
    )
    with pytest.raises(startup.StartupError) as info:
        startup.check_database(config)
    assert str(info.value).startswith(f"the feedback database {config['FEEDBACK_DB']} is read-only")


def test_reaper_of_a_job_whose_database_went_away_logs_it(tmp_path, caplog):
    import sys

    from service.retrain import reap
    from service.store import Store

    store = Store(tmp_path / "gone" / "service.sqlite3").init()
    job_id = store.create_job(None)
    shutil.rmtree(tmp_path / "gone")  # the database's folder is removed while the job runs
    with caplog.at_level(logging.WARNING, logger="service.retrain"):
        reap(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]), job_id, store)
    assert [r.getMessage() for r in caplog.records] == [
        f"retrain job {job_id} exited with code 3, but its end could not be recorded: "
        f"the feedback database {store.path} cannot be opened (unable to open database file)"
    ]
