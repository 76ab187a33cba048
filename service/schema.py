"""Versioned schema migrations of the PostgreSQL store: ``service/migrations/NNNN_name.sql``, applied in order
at start-up by one instance at a time.

A minimal runner is enough here, and why: PostgreSQL's DDL is transactional, so each migration and the row
recording it commit together or not at all (a crash mid-way leaves the previous version, never half of one);
a session advisory lock (`service.database.MIGRATE_LOCK`) makes every other instance wait until the first
has migrated, then find nothing to do; migrations only go forward, and a database at a version this code
does not know (a newer release migrated it) stops start-up with a message instead of running on it. That is
what yoyo-migrations or Alembic would give us; neither rollbacks nor generated migrations are wanted.

The SQLite file keeps its own start-up schema code (`service.store.Store.init`): it must open stores of every
age, from before any version was recorded, and its DDL is not PostgreSQL's.
"""

from __future__ import annotations

import re
from importlib import resources

from service.database import MIGRATE_LOCK, PostgresEngine, pg_storage_error

NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, SQL) of every migration shipped, in order."""
    found = []
    for entry in resources.files("service.migrations").iterdir():
        match = NAME_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(engine: PostgresEngine) -> list[int]:
    """Apply the migrations the database lacks, under the migrations' lock; returns the versions applied."""
    import psycopg

    from service.store import StorageError, now

    applied = []
    conn = engine.direct()
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied TEXT NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        known = migrations()
        newer = sorted(done - {version for version, _, _ in known})
        if newer:
            raise StorageError(
                503,
                "storage_schema_newer",
                f"the database {engine.display} has schema version {newer[-1]}, newer than this release knows "
                f"({known[-1][0]}): upgrade the service on this host",
            )
        for version, name, sql in known:
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (version, name, now()))
            applied.append(version)
    except psycopg.Error as exc:
        raise pg_storage_error(exc, engine.display) from exc
    finally:
        conn.close()  # releases the lock
    return applied


def schema_version(engine: PostgresEngine) -> int | None:
    """The newest migration applied, or None on a database never migrated."""
    with engine.connect() as conn:
        if not conn.columns("schema_migrations"):
            return None
        return conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
