"""`python -m service migrate-store --to postgresql://... [--from FILE] [--dry-run]`: copy an SQLite store into
a PostgreSQL one, losslessly and idempotently.

Every row of feedback, adjudications, jobs and the review queue (items, labels, leases) is copied with its
id and every column as stored, in one transaction; the models directory's ``CURRENT`` and ``HISTORY``
become the database's current-version pointer and history. Running it again copies nothing new: a row
whose key is already there with the same values is counted as such, and one whose key is there with other
values is neither overwritten nor copied, but reported (exit code 1), so nothing is lost either way. The
identity sequences are moved past the copied ids. The SQLite file is opened read-only and never changed;
``--dry-run`` does everything in a transaction that is rolled back, and reports the same counts.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

# table -> its key columns, in the order rows are copied (feedback before the queue rows that name it)
TABLES = {
    "feedback": ("id",),
    "adjudications": ("passage",),
    "jobs": ("id",),
    "queue_items": ("id",),
    "queue_labels": ("item_id", "annotator"),
    "queue_leases": ("item_id", "annotator"),
}
IDENTITY_TABLES = ("feedback", "queue_items")


@dataclass
class Counts:
    """What happened to one table's rows."""

    copied: int = 0
    present: int = 0
    differ: list = field(default_factory=list)  # keys whose target row holds other values

    def line(self, table: str) -> str:
        """The counts in words."""
        text = f"{table}: {self.copied} copied, {self.present} already there"
        if self.differ:
            keys = ", ".join(str(key[0] if len(key) == 1 else key) for key in self.differ[:5])
            more = " ..." if len(self.differ) > 5 else ""
            text += f", {len(self.differ)} differ there and were left as they are ({keys}{more})"
        return text


def _source_rows(source: sqlite3.Connection, table: str, wanted: set[str]) -> tuple[list[str], list[tuple]]:
    present = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    columns = [name for name in present if name in wanted]
    if not columns:
        return [], []
    quoted = ", ".join(f'"{name}"' for name in columns)
    return columns, source.execute(f"SELECT {quoted} FROM {table}").fetchall()


def copy_table(source: sqlite3.Connection, conn, table: str) -> Counts:
    """Copy one table's rows that the target lacks; count those it has (same values, or other ones)."""
    keys = TABLES[table]
    columns, rows = _source_rows(source, table, conn.columns(table))
    counts = Counts()
    if not rows:
        return counts
    quoted = ", ".join(f'"{name}"' for name in columns)
    at = [columns.index(key) for key in keys]
    existing = {tuple(row[i] for i in at): tuple(row) for row in conn.execute(f"SELECT {quoted} FROM {table}")}
    fresh = []
    for row in rows:
        key = tuple(row[i] for i in at)
        there = existing.get(key)
        if there is None:
            fresh.append(tuple(row))
        elif there == tuple(row):
            counts.present += 1
        else:
            counts.differ.append(key)
    if fresh:
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", fresh)
    counts.copied = len(fresh)
    return counts


def copy_pointer(conn, models_dir: Path) -> tuple[str, bool]:
    """Copy HISTORY's entries the database lacks and CURRENT when it has no pointer; (what happened, conflict)."""
    from classifier.versions import read_history, read_pointer

    current, history = read_pointer(models_dir), read_history(models_dir)
    added = 0
    for entry in history:
        added += conn.execute(
            "INSERT INTO model_history (version, time, chosen_by) VALUES (?, ?, ?) "
            "ON CONFLICT (version, time, chosen_by) DO NOTHING",
            (entry["version"], entry.get("time") or "", entry.get("by") or "operator"),
        ).rowcount
    line = f"model history: {added} copied, {len(history) - added} already there"
    if current is None:
        return line + f"; no CURRENT in {models_dir}", False
    row = conn.execute("SELECT version FROM model_pointer WHERE id = 1").fetchone()
    if row is None:
        conn.execute("INSERT INTO model_pointer (id, version, generation) VALUES (1, ?, 1)", (current,))
        return line + f"; current version {current}", False
    if row[0] == current:
        return line + f"; current version {current} already", False
    return line + f"; the database's current version is {row[0]}, {models_dir} names {current}: left as it is", True


def migrate_store(source_path: Path, target_url: str, models_dir: Path | None, dry_run: bool) -> tuple[list[str], bool]:
    """Copy the SQLite store at `source_path` (and the pointer files of `models_dir`) into `target_url`;
    returns (report lines, whether some rows differ). Raises `FileNotFoundError`, `sqlite3.Error`,
    `service.store.StorageError`."""
    from service.store import Store

    if not source_path.is_file():
        raise FileNotFoundError(f"{source_path}: no such SQLite store")
    target = Store(target_url)
    if target.kind != "postgresql":
        raise ValueError(f"--to {target_url!r}: expected a postgresql:// URL")
    target.init()  # the schema, by its migrations (under their lock)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    lines, conflict = [], False
    try:
        with target.connect() as conn:
            conn.begin()
            try:
                for table in TABLES:
                    counts = copy_table(source, conn, table)
                    lines.append(counts.line(table))
                    conflict = conflict or bool(counts.differ)
                for table in IDENTITY_TABLES:
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
                if models_dir is not None:
                    line, differs = copy_pointer(conn, models_dir)
                    lines.append(line)
                    conflict = conflict or differs
                if dry_run:
                    conn.rollback()
                else:
                    conn.commit()
            except BaseException:
                conn.rollback()
                raise
    finally:
        source.close()
    return lines, conflict


def main(argv: list[str]) -> int:
    """The command: 0 when everything is in the target, 1 when some rows differ there, 2 on bad input."""
    import argparse

    from service.config import load_config_or_report
    from service.database import DatabaseURLError, database_url, engine_kind, redact, sqlite_path
    from service.store import StorageError

    config = load_config_or_report()
    if config is None:
        return 2
    parser = argparse.ArgumentParser(prog="python -m service migrate-store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--to", required=True, help="the PostgreSQL store: postgresql://user:password@host:port/db")
    parser.add_argument("--from", dest="source", help="the SQLite file (default: HTA_FEEDBACK_DB)")
    parser.add_argument("--models-dir", default=str(config["MODELS_DIR"]),
                        help="whose CURRENT and HISTORY to copy (default: HTA_MODELS_DIR)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="report what would be copied; write nothing")
    args = parser.parse_args(argv)
    source = args.source or str(config["FEEDBACK_DB"])
    try:
        if "://" in source:
            if engine_kind(source) != "sqlite":
                raise DatabaseURLError(f"--from {redact(source)!r}: expected an SQLite file")
            source = str(sqlite_path(source))
        elif config.get("DATABASE_URL") and not args.source and engine_kind(database_url(config)) == "sqlite":
            source = str(sqlite_path(database_url(config)))
        lines, conflict = migrate_store(Path(source), args.to, Path(args.models_dir), args.dry_run)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"error: {source}: cannot read the SQLite store: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    prefix = "dry run (nothing written): " if args.dry_run else ""
    print(f"{prefix}{source} -> {redact(args.to)}")
    for line in lines:
        print(f"  {line}")
    return 1 if conflict else 0
