"""`python -m service migrate-store`: an SQLite store copied into PostgreSQL, losslessly and idempotently."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import ADMIN

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
TABLES = ("feedback", "adjudications", "jobs", "queue_items", "queue_labels", "queue_leases")


def sqlite_rows(db, table: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        quoted = ", ".join(f'"{c}"' for c in columns)
        return columns, conn.execute(f"SELECT {quoted} FROM {table} ORDER BY 1, 2").fetchall()


def postgres_rows(url: str, table: str, columns: list[str]) -> list[tuple]:
    from service.store import Store

    quoted = ", ".join(f'"{c}"' for c in columns)
    with Store(url).connect() as conn:
        return [tuple(row) for row in conn.execute(f"SELECT {quoted} FROM {table} ORDER BY 1, 2")]


def test_migrate_store_copies_everything_once_and_never_overwrites(app_config, postgres_url, capsys):
    from classifier.versions import read_history, read_pointer
    from service import create_app
    from service.__main__ import main as service_main
    from service.store import Store

    app = create_app(app_config)
    client, admin = app.test_client(), {"Authorization": f"Bearer {ADMIN}"}
    passages = ["Divers found explosives on the pipeline.", "We stand with Ukraine.", "Fine weather today."]
    assert (
        client.post("/v1/queue", json={"passages": [{"text": t} for t in passages]}, headers=admin).status_code == 201
    )
    item = client.get("/v1/queue?limit=1").get_json()["items"][0]
    assert client.post(f"/v1/queue/{item['id']}/label", json={"labels": ["sabotage_mention"]}).status_code == 200
    items = [{"text": "Saboteurs cut the cable.", "labels": ["sabotage_mention"], "document_id": "d1"},
             {"text": "Aid arrived.", "labels": []}]  # fmt: skip
    assert client.post("/v1/feedback", json={"items": items}, headers=admin).status_code == 201
    store = app.extensions["hta_store"]
    job_id = store.create_job("v-base")
    store.add_progress(job_id, "read 3 feedback rows")
    store.update_job(job_id, state="rejected", metrics={"macro_f1": 0.5}, finished="2026-01-01T00:00:00.000+00:00")
    db, models = app_config["FEEDBACK_DB"], app_config["MODELS_DIR"]
    command = ["migrate-store", "--to", postgres_url, "--from", str(db), "--models-dir", str(models)]

    assert service_main([*command, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"dry run (nothing written): {db} -> {postgres_url}\n")
    assert "  feedback: 3 copied, 0 already there\n" in out and "  jobs: 1 copied, 0 already there\n" in out
    assert Store(postgres_url).feedback_count() == 0

    assert service_main(command) == 0
    out = capsys.readouterr().out
    assert "  queue_items: 3 copied, 0 already there\n" in out and "  queue_labels: 1 copied, 0 already there\n" in out
    for table in TABLES:  # every row, every column, as stored
        columns, rows = sqlite_rows(db, table)
        assert postgres_rows(postgres_url, table, columns) == rows, table
    target = Store(postgres_url)
    assert target.get_job(job_id) == store.get_job(job_id)
    from service.store import read_pointer_row

    state = read_pointer_row(target)
    assert state.current == read_pointer(models)
    assert [(e["version"], e["by"]) for e in state.history] == [(e["version"], e["by"]) for e in read_history(models)]

    assert service_main(command) == 0  # again: nothing new
    out = capsys.readouterr().out
    assert "  feedback: 0 copied, 3 already there\n" in out and "  model history: 0 copied, 1 already there" in out

    # the identity moved past the copied ids: a PostgreSQL app stores the next feedback as id 4
    pg_app = create_app({**app_config, "DATABASE_URL": postgres_url})
    stored = pg_app.test_client().post("/v1/feedback", json={"text": "New.", "labels": []}).get_json()
    assert stored["ids"] == [4]
    # a row changed in the target is reported, not overwritten, and the exit code says so
    with target.connect() as conn:
        conn.execute("UPDATE feedback SET labels = '[]' WHERE id = 2")
    assert service_main(command) == 1
    out = capsys.readouterr().out
    assert "  feedback: 0 copied, 2 already there, 1 differ there and were left as they are (2)\n" in out
    assert target.get_feedback(2)["labels"] == []


def test_migrate_store_bad_input(tmp_path, postgres_url, capsys):
    from service.__main__ import main as service_main

    missing = tmp_path / "none.sqlite3"
    assert service_main(["migrate-store", "--to", postgres_url, "--from", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such SQLite store\n"
    (tmp_path / "x.sqlite3").write_bytes(b"")
    assert (
        service_main(["migrate-store", "--to", str(tmp_path / "y.sqlite3"), "--from", str(tmp_path / "x.sqlite3")]) == 2
    )
    assert capsys.readouterr().err == f"error: --to {str(tmp_path / 'y.sqlite3')!r}: expected a postgresql:// URL\n"
