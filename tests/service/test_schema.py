"""The store's one schema (`service.schema`): both engines end with the same tables and columns, an SQLite file
of every older layout opens, is brought to the current one and keeps its rows, and a database migrated by a
newer release stops this one."""

from __future__ import annotations

import importlib
import json
import sqlite3

import pytest

# The DDL each release ran on an SQLite file, on top of the release before (its start-up code, as the files
# of users who upgraded got it; a file made fresh by that release had the same columns in the same order).
# Copied from the history of service/store.py and service/review/store.py; the last one is the last release
# that recorded no schema version in the file.
RELEASES = [
    ("3c35d13", "the first release", [
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, text TEXT NOT NULL, "
        "labels TEXT NOT NULL, document_id TEXT, model_version TEXT)",
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'retrain', state TEXT NOT NULL, created "
        "TEXT NOT NULL, started TEXT, finished TEXT, pid INTEGER, progress TEXT NOT NULL DEFAULT '[]', base_version "
        "TEXT, candidate_version TEXT, promoted INTEGER NOT NULL DEFAULT 0, metrics TEXT, verdict TEXT, error TEXT, "
        "feedback_rows INTEGER)",
    ]),
    ("5c5432e", "feedback sources", [
        "ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'api'",
        "ALTER TABLE feedback ADD COLUMN source_project TEXT",
        "ALTER TABLE feedback ADD COLUMN source_ref TEXT",
        "ALTER TABLE feedback ADD COLUMN updated TEXT",
        "CREATE UNIQUE INDEX feedback_source_ref ON feedback (source, source_project, source_ref) "
        "WHERE source_ref IS NOT NULL",
        "CREATE INDEX feedback_created ON feedback (created)",
    ]),
    ("b648b4d", "the start-up check", [
        "CREATE TABLE service_checks (name TEXT PRIMARY KEY, time TEXT NOT NULL)",
    ]),
    ("e55d3bb", "the review queue", [
        "CREATE TABLE queue_items (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, text TEXT NOT NULL, "
        'text_sha256 TEXT NOT NULL UNIQUE, origin TEXT NOT NULL, document_id TEXT, start INTEGER, "end" INTEGER, '
        "kind TEXT, context_before TEXT NOT NULL DEFAULT '', context_after TEXT NOT NULL DEFAULT '', state TEXT NOT "
        "NULL DEFAULT 'pending', decided TEXT, feedback_id INTEGER, scores TEXT, scored_version TEXT)",
        "CREATE INDEX queue_items_state ON queue_items (state, id)",
        "CREATE INDEX queue_items_origin ON queue_items (origin, created)",
    ]),
    ("968d6dc", "the trimmed-text index", [
        "CREATE INDEX feedback_trimmed_text ON feedback (trim(text, char(32, 9, 10, 11, 12, 13)))",
    ]),
    ("cdc26f6", "languages", [
        "ALTER TABLE queue_items ADD COLUMN language TEXT",
        "CREATE INDEX queue_items_language ON queue_items (state, language, id)",
    ]),
    ("c2d40e7", "annotators, queue overlap and leases", [
        "ALTER TABLE feedback ADD COLUMN annotator TEXT",
        "DROP INDEX feedback_source_ref",
        "CREATE UNIQUE INDEX feedback_source_ref_annotator ON feedback (source, source_project, source_ref, "
        "coalesce(annotator, '')) WHERE source_ref IS NOT NULL",
        "CREATE INDEX feedback_annotator ON feedback (annotator)",
        "CREATE TABLE queue_labels (item_id INTEGER NOT NULL, annotator TEXT NOT NULL, feedback_id INTEGER NOT NULL, "
        "created TEXT NOT NULL, PRIMARY KEY (item_id, annotator))",
        "CREATE TABLE queue_leases (item_id INTEGER NOT NULL, annotator TEXT NOT NULL, expires REAL NOT NULL, "
        "PRIMARY KEY (item_id, annotator))",
    ]),
    ("fdd4b1d", "adjudications", [
        "CREATE TABLE adjudications (passage TEXT PRIMARY KEY, text TEXT NOT NULL, labels TEXT NOT NULL, adjudicator "
        "TEXT NOT NULL, created TEXT NOT NULL, updated TEXT)",
    ]),
    ("2ff71b9", "document sources", [
        "ALTER TABLE feedback ADD COLUMN document_source TEXT",
    ]),
    ("643041b", "instances and heartbeats", [
        "ALTER TABLE jobs ADD COLUMN instance TEXT",
        "ALTER TABLE jobs ADD COLUMN heartbeat TEXT",
    ]),
]  # fmt: skip
T = "2026-11-25T10:00:00.000+00:00"
# Rows with a value in every column any release had; a layout gets the columns it has.
ROWS = {
    "feedback": [
        {"id": 1, "created": T, "text": "Saboteurs cut the undersea cable.", "labels": '["sabotage_mention"]',
         "document_id": "brief-1", "model_version": "v1", "source": "label_studio", "source_project": "3",
         "source_ref": "17", "updated": T, "annotator": "ana", "document_source": "news"},
        {"id": 2, "created": T, "text": "We stand with Ukraine.", "labels": '["support_statement"]',
         "document_id": None, "model_version": None, "source": "api", "source_project": None, "source_ref": None,
         "updated": None, "annotator": None, "document_source": None},
        {"id": 3, "created": T, "text": "Fine weather today.", "labels": "[]", "document_id": None,
         "model_version": "v1", "source": "api", "source_project": None, "source_ref": None, "updated": None,
         "annotator": "bo", "document_source": None},
    ],
    "jobs": [
        {"id": "0123456789abcdef", "kind": "retrain", "state": "succeeded", "created": T, "started": T,
         "finished": T, "pid": 4242, "progress": '[{"time": "' + T + '", "message": "training"}]',
         "base_version": "v1", "candidate_version": "v2", "promoted": 1, "metrics": '{"macro_f1": 0.9}',
         "verdict": '{"promote": true}', "error": None, "feedback_rows": 3, "instance": "host-a", "heartbeat": T},
    ],
    "service_checks": [{"name": "start-up", "time": T}],
    "queue_items": [
        {"id": 1, "created": T, "text": "Divers found explosives on the pipeline.", "text_sha256": "a" * 64,
         "origin": "capture", "document_id": "brief-2", "start": 0, "end": 40, "kind": "sentence",
         "context_before": "", "context_after": " Police closed the harbour.", "state": "labelled", "decided": T,
         "feedback_id": 1, "scores": "[0.1, 0.9, 0.05]", "scored_version": "v1", "language": "en"},
        {"id": 2, "created": T, "text": "Saboteure haben das Unterseekabel durchtrennt.", "text_sha256": "b" * 64,
         "origin": "api", "document_id": None, "start": None, "end": None, "kind": None, "context_before": "",
         "context_after": "", "state": "pending", "decided": None, "feedback_id": None, "scores": None,
         "scored_version": None, "language": "de"},
    ],
    "queue_labels": [{"item_id": 1, "annotator": "ana", "feedback_id": 1, "created": T}],
    "queue_leases": [{"item_id": 2, "annotator": "bo", "expires": 1.8e9}],
    "adjudications": [
        {"passage": "c" * 64, "text": "Fine weather today.", "labels": "[]", "adjudicator": "cy", "created": T,
         "updated": None},
    ],
}  # fmt: skip
# What a column added since a layout holds in that layout's rows: its declared default (NULL unless named here).
ADDED_DEFAULTS = {("feedback", "source"): "api"}


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def old_store(path, upto: int) -> dict[str, list[str]]:
    """An SQLite file in the layout of `RELEASES[upto]`, with `ROWS` in the columns it has (feedback row 3
    deleted, as a user may have done: its id is not reused); returns each table's columns."""
    with sqlite3.connect(path) as conn:
        for _, _, statements in RELEASES[: upto + 1]:
            for statement in statements:
                conn.execute(statement)
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        layout = {table: table_columns(conn, table) for table in tables if table != "sqlite_sequence"}
        for table, columns in layout.items():
            for row in ROWS[table]:
                quoted = ", ".join(f'"{name}"' for name in columns)
                conn.execute(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})",
                             [row[name] for name in columns])  # fmt: skip
        conn.execute("DELETE FROM feedback WHERE id = 3")
    conn.close()
    return layout


def sqlite_layout(path) -> tuple[dict, dict]:
    """Every table's columns as PRAGMA table_info gives them, and every index's SQL (whitespace folded)."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        columns = {table: conn.execute(f"PRAGMA table_info({table})").fetchall() for table in tables}
        found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        indexes = {name: " ".join(sql.split()) for name, sql in found}
    conn.close()
    columns.pop("sqlite_sequence", None)
    return columns, indexes


@pytest.mark.parametrize("upto", range(len(RELEASES)), ids=[f"{c}-{name.replace(' ', '-')}" for c, name, _ in RELEASES])
def test_a_file_of_every_older_layout_opens_upgrades_and_keeps_its_rows(tmp_path, upto):
    from service.review.store import QueueStore
    from service.schema import VERSIONS, schema_version
    from service.store import Store

    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).init()
    db = tmp_path / "old.sqlite3"
    layout = old_store(db, upto)

    store = Store(db).check()  # what the service's start does, then the queue's own start
    QueueStore(store).init()

    assert sqlite_layout(db) == sqlite_layout(fresh)
    assert schema_version(store.engine) == max(VERSIONS)
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        for table in ROWS:
            stored = [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
            if table not in layout:
                assert stored == ([{"name": "start-up", "time": stored[0]["time"]}] if table == "service_checks"
                                  else [])  # fmt: skip
                continue
            expected = [
                {name: row[name] if name in layout[table] else ADDED_DEFAULTS.get((table, name)) for name in row}
                for row in ROWS[table]
                if (table, row.get("id")) != ("feedback", 3)
            ]
            if table == "service_checks":
                expected[0]["time"] = stored[0]["time"]  # the start-up check wrote its time
            if table == "queue_items" and "language" not in layout[table]:
                for row in expected:  # identified by the queue's start
                    row["language"] = {"Divers": "en", "Saboteure": "de"}[row["text"].split()[0]]
            assert stored == expected, table
        assert [tuple(r) for r in conn.execute("SELECT version, name FROM schema_migrations")] == [(1, "initial")]
    conn.close()

    # It works as a store of this release: ids go on after the deleted one, and two annotators' labels of one
    # outside item are two rows (the first releases' unique index on the item alone is gone).
    item = {"text": "Rail signals were sabotaged.", "labels": ["sabotage_mention"], "source": "queue",
            "source_project": "9", "source_ref": "1", "ref_per_annotator": True}  # fmt: skip
    assert store.add_feedback([{**item, "annotator": "ana"}, {**item, "annotator": "bo"}]) == [4, 5]
    assert store.get_job(store.create_job("v2"))["instance"] == store.instance
    assert Store(db).init() is not None and sqlite_layout(db) == sqlite_layout(fresh)  # a second start: nothing


@pytest.mark.parametrize("upto", [0, len(RELEASES) - 1], ids=["first-release", "last-release"])
def test_adoption_keeps_an_operators_own_index(tmp_path, upto):
    # adoption replaces the indexes earlier releases made; one the operator added (a name no release used) stays
    from service.store import Store

    db = tmp_path / "old.sqlite3"
    old_store(db, upto)
    own = "CREATE INDEX ops_feedback_labels ON feedback (labels)"
    with sqlite3.connect(db) as conn:
        conn.execute(own)
    conn.close()
    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).init()
    Store(db).check()
    columns, indexes = sqlite_layout(db)
    assert indexes.pop("ops_feedback_labels") == own
    assert (columns, indexes) == sqlite_layout(fresh)


def test_the_baseline_is_the_last_unversioned_releases_layout(tmp_path):
    """Older files are adopted as `BASELINE`: its tables and columns are exactly those of the fixture's last
    release (so adopting a file of that release adds no column, and no step of a later version is skipped)."""
    from service.schema import POSTGRESQL_ONLY, baseline_reference

    layout = old_store(tmp_path / "last.sqlite3", len(RELEASES) - 1)
    reference = baseline_reference()
    tables = [r[0] for r in reference.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {t: table_columns(reference, t) for t in tables if t != "sqlite_sequence"} == layout
    assert not POSTGRESQL_ONLY & set(layout)


def test_an_sqlite_file_without_the_stores_tables_is_created_with_the_steps_not_adopted(tmp_path):
    from service.store import Store

    db = tmp_path / "other.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")  # someone else's table: left as it is
        conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.close()
    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).init()
    Store(db).init()
    columns, indexes = sqlite_layout(db)
    assert columns.pop("notes") == [(0, "body", "TEXT", 0, None, 0)]
    assert (columns, indexes) == sqlite_layout(fresh)


def test_a_database_migrated_by_a_newer_release_stops_this_one(store_url):
    from service.schema import VERSIONS
    from service.store import StorageError, Store

    store = Store(store_url).init()
    with store.connect() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', ?)", (max(VERSIONS) + 1, T))
    with pytest.raises(StorageError) as info:
        Store(store_url).init()
    assert (info.value.status, info.value.code) == (503, "storage_schema_newer")
    assert info.value.message == (
        f"the database {store.display} has schema version {max(VERSIONS) + 1}, newer than this release knows "
        f"({max(VERSIONS)}): upgrade the service on this host"
    )


def test_the_start_up_check_says_to_upgrade_and_nothing_else(app_config):
    from service.schema import VERSIONS
    from service.startup import StartupError, check_database
    from service.store import Store

    store = Store.from_config(app_config).init()
    with store.connect() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', ?)", (T,))
    with pytest.raises(StartupError) as info:
        check_database(app_config)
    assert str(info.value) == (
        f"the database {store.display} has schema version 99, newer than this release knows ({max(VERSIONS)}): "
        "upgrade the service on this host."
    )


def test_every_version_has_a_step_and_every_table_is_declared_by_the_module_that_writes_it():
    """Each table's DDL is in the one module of service/ whose SQL writes the table (`migrate-store` aside: it
    copies every table of a whole store); the queue's are the queue store's."""
    import re
    from pathlib import Path

    from service.schema import OWNERS, VERSIONS, steps

    assert sorted({step.version for step in steps()}) == sorted(VERSIONS) == list(range(1, len(VERSIONS) + 1))
    declared = {}
    for owner in OWNERS:
        for step in importlib.import_module(owner).SCHEMA:
            for table in re.findall(r"CREATE TABLE (\w+)", step.sql):
                assert table not in declared, f"{table} declared by {declared.get(table)} and {owner}"
                declared[table] = owner.replace(".", "/") + ".py"
    writers: dict[str, set[str]] = {}
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "service").rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module == "service/migrate_store.py":
            continue
        for table in re.findall(r"(?:INSERT INTO|(?<!DO )UPDATE|DELETE FROM) (\w+)", path.read_text(encoding="utf-8")):
            writers.setdefault(table, set()).add(module)
    writers.pop("schema_migrations")  # the runner's own record
    assert {table: {module} for table, module in declared.items()} == writers
    assert {t for t, m in declared.items() if m == "service/review/store.py"} == {
        "queue_items", "queue_labels", "queue_leases"
    }  # fmt: skip


def postgres_layout(url: str) -> tuple[dict, set]:
    import psycopg

    with psycopg.connect(url) as conn:
        columns: dict[str, list] = {}
        for table, column, nullable in conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ):
            columns.setdefault(table, []).append((column, nullable == "NO"))
        indexes = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )}  # fmt: skip
    return columns, indexes


@pytest.mark.slow
@pytest.mark.postgresql
def test_both_engines_end_with_the_same_tables_and_columns(postgres_cluster, tmp_path):
    """From the catalogue and PRAGMA: the same tables (but the pointer's, PostgreSQL's alone), the same columns
    in the same order with the same nullability, the same named indexes, the same recorded versions."""
    from service.database import close_engines
    from service.review.store import QueueStore
    from service.schema import POSTGRESQL_ONLY, VERSIONS, schema_version
    from service.store import Store

    url = postgres_cluster.create_database()  # empty: migrated here, by this test
    try:
        pg = QueueStore(Store(url).check()).init().store
        lite = QueueStore(Store(tmp_path / "service.sqlite3").check()).init().store
        pg_columns, pg_indexes = postgres_layout(url)
        sqlite_columns, sqlite_indexes = sqlite_layout(lite.path)
        # SQLite leaves a PRIMARY KEY column nullable in PRAGMA (the store never writes a NULL key);
        # PostgreSQL makes it NOT NULL.
        sqlite_shape = {table: [(c[1], bool(c[3] or c[5])) for c in rows] for table, rows in sqlite_columns.items()}
        assert set(pg_columns) - set(sqlite_shape) == POSTGRESQL_ONLY == {"model_pointer", "model_history"}
        assert sqlite_shape == {table: pg_columns[table] for table in sqlite_shape}
        assert set(sqlite_indexes) == pg_indexes and "feedback_trimmed_text" in pg_indexes
        assert schema_version(pg.engine) == schema_version(lite.engine) == max(VERSIONS)
        with pg.connect() as a, lite.connect() as b:
            query = "SELECT version, name FROM schema_migrations ORDER BY version"
            assert [tuple(r) for r in a.execute(query)] == [tuple(r) for r in b.execute(query)] == [(1, "initial")]
    finally:
        close_engines(url)
        postgres_cluster.drop_database(url)


def test_feedback_rows_keep_their_labels_after_the_upgrade(tmp_path):
    """Read back through the store's own API: the old rows' labels, document and source."""
    from service.store import Store

    db = tmp_path / "old.sqlite3"
    old_store(db, 0)
    rows = Store(db).init().list_feedback()
    assert [(r["id"], r["labels"], r["document_id"], r["source"], r["annotator"]) for r in rows] == [
        (1, json.loads(ROWS["feedback"][0]["labels"]), "brief-1", "api", None),
        (2, ["support_statement"], None, "api", None),
    ]


@pytest.mark.slow  # starts threads
@pytest.mark.sqlite_only  # a new database of each engine, made here
@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_processes_starting_at_once_on_a_new_database_migrate_it_once(engine, tmp_path, request):
    """Four stores (as four workers or instances would) start together: one applies the versions, the others
    wait for it and find nothing to do; none fails."""
    from concurrent.futures import ThreadPoolExecutor

    from service.database import close_engines
    from service.schema import VERSIONS, migrate
    from service.store import Store

    cluster = request.getfixturevalue("postgres_cluster") if engine == "postgresql" else None
    url = cluster.create_database() if cluster else f"sqlite://{tmp_path / 'new.sqlite3'}"
    try:
        Store(url)  # the SQLite file's folder exists; the database is empty
        with ThreadPoolExecutor(4) as pool:
            applied = list(pool.map(lambda _: migrate(Store(url, busy_timeout=30).engine), range(4)))
        assert sorted(applied, key=len) == [[], [], [], sorted(VERSIONS)]
        with Store(url).connect() as conn:
            assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(VERSIONS)
    finally:
        if cluster:
            close_engines(url)
            cluster.drop_database(url)
