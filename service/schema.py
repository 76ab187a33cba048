"""The store's schema, one history for both engines: versioned migrations, applied in order at start-up by one
process at a time, on the SQLite file and on PostgreSQL alike.

Each store module owns the DDL of the tables it writes, as the `Step`s of its ``SCHEMA``: `service.store`
(feedback, jobs, adjudications, service_checks, the model pointer), `service.review.store` (the queue's
items, labels and leases). A version is one step of the whole database, named in `VERSIONS`: applying it runs
every owner's statements of that version and records it in ``schema_migrations``. To change a table, add a
version here and a step of that version to the table's owner; a step already released is never edited.

The DDL is written once for both engines; what they spell differently is a ``{name}`` that the dialect fills
in (`service.database.Dialect.ddl`: the auto-numbered key, 64-bit integers, floats, the trimmed-text
expression). A step may be for one engine only: with SQLite the model pointer stays in files beside the
versions (`classifier.versions`), so its tables are PostgreSQL's alone (`POSTGRESQL_ONLY`).

A minimal runner is enough here, and why: both engines' DDL is transactional, so every version applied and
the rows recording them commit together or not at all (a crash mid-way leaves the previous version, never
half of one); the writers' lock (SQLite's ``BEGIN IMMEDIATE``; with PostgreSQL the writers' and the
migrations' advisory locks) makes every other process wait until the first has migrated, then find nothing
to do; migrations only go forward, and a database at a version this code does not know (a newer release
migrated it) stops start-up with a message instead of running on it. That is what yoyo-migrations or Alembic
would give us; neither rollbacks nor generated migrations are wanted, and neither knows how to adopt the
SQLite files below.

SQLite files made by releases before versions were recorded there (their tables grown by ``ALTER TABLE`` at
each start) are adopted once, in the same transaction: the tables they lack are created, the columns their
tables lack are added with their declared type, NOT NULL and default, and their tables' indexes become the
baseline's (an earlier release's index is replaced or dropped; an index of an operator's own is kept); every
row stays. What they are brought to is read from
an in-memory database migrated to `BASELINE` by the same steps, so no second copy of the DDL exists; the
versions up to it are then recorded as applied and later ones run as on any database.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
from dataclasses import dataclass

from service.database import MIGRATE_LOCK, POSTGRESQL, SQLITE, SQLITE_DIALECT, Connection, Dialect, Engine

# Every version of the schema, in order, and what it did.
VERSIONS = {
    1: "initial",
}
# The layout of the last release that recorded no version in its SQLite files: what those files are adopted as.
BASELINE = 1
# The modules that own the store's tables, in the order their steps run within a version.
OWNERS = ("service.store", "service.review.store")
# Tables one engine has and the other does not (with SQLite the pointer is the models directory's files).
POSTGRESQL_ONLY = frozenset({"model_pointer", "model_history"})

RECORD_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "applied TEXT NOT NULL)"
)
STATEMENT_END = re.compile(r";[ \t]*(?:\n|\Z)")


@dataclass(frozen=True)
class Step:
    """What one store module adds to the schema at one version: SQL statements, each ending with ``;`` at the
    end of a line, with ``{identity}``, ``{bigint}``, ``{double}`` and ``{trimmed_text}`` spelled by each
    engine's dialect (a literal brace is doubled); for both engines, or for those in `engines` only."""

    version: int
    sql: str
    engines: tuple[str, ...] = (SQLITE, POSTGRESQL)

    def statements(self, dialect: Dialect) -> list[str]:
        """The step's statements as `dialect` spells them (none when the step is not for its engine)."""
        if dialect.name not in self.engines:
            return []
        pieces = (piece.strip() for piece in STATEMENT_END.split(self.sql.format_map(dialect.ddl)))
        return [piece for piece in pieces if _code(piece)]


def _code(piece: str) -> str:
    """A piece of SQL without its comment lines (empty when it holds nothing to run)."""
    return "\n".join(line for line in piece.splitlines() if not line.lstrip().startswith("--")).strip()


def steps() -> list[Step]:
    """Every owner's steps, in version order (an owner's steps of one version in the order it lists them)."""
    found = []
    for owner in OWNERS:
        for step in importlib.import_module(owner).SCHEMA:
            if step.version not in VERSIONS:
                raise ValueError(f"{owner}: a schema step of version {step.version}, which VERSIONS does not name")
            found.append(step)
    return sorted(found, key=lambda step: step.version)  # stable: owners' order within a version


def statements(version: int, dialect: Dialect) -> list[str]:
    """The statements that bring a database of `dialect` from the version before `version` to it."""
    return [sql for step in steps() if step.version == version for sql in step.statements(dialect)]


def _recorded(conn: Connection) -> set[int]:
    """The versions recorded as applied (none in a database never migrated)."""
    if not conn.columns("schema_migrations"):
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(engine: Engine) -> list[int]:
    """Apply the versions the database lacks, in one transaction under the writers' lock (an SQLite file of
    an older release adopted first; the file in WAL mode); returns the versions recorded by this call.

    Raises `service.store.StorageError`: the database unusable, or migrated by a newer release.
    """
    from service.store import StorageError, now

    with engine.connect() as conn:
        if conn.dialect.name == SQLITE:
            conn.execute("PRAGMA journal_mode = WAL")  # kept by the file; readers never wait for the writer
        if _recorded(conn) == set(VERSIONS):
            return []  # the usual start: nothing to do, no lock taken
        conn.begin()
        try:
            if conn.dialect.name == POSTGRESQL:
                conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK,))  # older releases take this one
            conn.execute(RECORD_TABLE)
            done = _recorded(conn)
            newer = sorted(done - set(VERSIONS))
            if newer:
                raise StorageError(
                    503,
                    "storage_schema_newer",
                    f"the database {engine.display} has schema version {newer[-1]}, newer than this release knows "
                    f"({max(VERSIONS)}): upgrade the service on this host",
                )
            recorded = [version for version in sorted(VERSIONS) if version not in done]
            pending = recorded
            if not done and conn.dialect.name == SQLITE and adopt(conn):
                pending = [version for version in recorded if version > BASELINE]  # the file is at the baseline
            for version in pending:
                for statement in statements(version, conn.dialect):
                    conn.execute(statement)
            moment = now()
            conn.executemany(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                [(version, VERSIONS[version], moment) for version in recorded],
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return recorded


def baseline_reference() -> sqlite3.Connection:
    """An in-memory SQLite database migrated to `BASELINE` by the steps: what older files are adopted as."""
    reference = sqlite3.connect(":memory:")
    for version in range(1, BASELINE + 1):
        for statement in statements(version, SQLITE_DIALECT):
            reference.execute(statement)
    return reference


# Indexes that releases before versions were recorded made and the baseline does not (their names): adoption
# drops them (the first releases' unique index on an outside item alone would refuse two annotators' labels
# of it). Any other index on the tables that the baseline does not name, such as an operator's own, is kept.
_EARLIER_INDEXES = frozenset({"feedback_source_ref"})


def adopt(conn: Connection) -> bool:
    """Bring an SQLite file made before versions were recorded to the `BASELINE` layout, keeping every row
    (inside the caller's transaction); returns False, changing nothing, when it holds none of the tables."""
    if (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name != 'schema_migrations'").fetchone()
        is None
    ):
        return False  # a new file
    reference = baseline_reference()
    tables = dict(reference.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                    "'sqlite_%'"))  # fmt: skip
    present = {table: conn.columns(table) for table in tables}
    if not any(present.values()):
        return False
    for table, create in tables.items():
        if not present[table]:
            conn.execute(create)
            continue
        for _, column, kind, not_null, default, _ in reference.execute(f"PRAGMA table_info({table})"):
            if column not in present[table]:
                conn.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}' + (" NOT NULL" if not_null else "")
                             + ("" if default is None else f" DEFAULT {default}"))  # fmt: skip
    wanted = dict(reference.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    have = conn.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    for name, table, sql in have.fetchall():
        if table in tables and (name in _EARLIER_INDEXES or (name in wanted and _words(sql) != _words(wanted[name]))):
            conn.execute(f'DROP INDEX "{name}"')  # an earlier release's index, or one defined otherwise now
    kept = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for name, sql in wanted.items():
        if name not in kept:
            conn.execute(sql)
    return True


def _words(sql: str | None) -> str | None:
    return None if sql is None else " ".join(sql.split())


def schema_version(engine: Engine) -> int | None:
    """The newest version applied, or None on a database never migrated."""
    with engine.connect() as conn:
        recorded = _recorded(conn)
    return max(recorded) if recorded else None
