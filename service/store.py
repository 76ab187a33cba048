"""The store of feedback, adjudications and retrain jobs: the embedded SQLite file (WAL mode, one short
connection per operation; the default) or a PostgreSQL database shared by several hosts
(``HTA_DATABASE_URL``; `service.database` holds the engines and what their SQL spells differently).

Every gunicorn worker, every instance and the retrain job process open the same database, so any of them
can answer ``GET /v1/jobs/<id>`` and feedback is durable as soon as the insert commits. Every SQLite,
PostgreSQL or file-system failure leaves this module as a `StorageError` that names the cause (disk full,
read-only, corrupt, busy, the database unreachable) with the HTTP status to answer; the original error is
its ``__cause__``, for the log.

With PostgreSQL a job records the instance that runs it and a heartbeat; another instance marks it
interrupted once no heartbeat came for ``HTA_JOB_HEARTBEAT_SECONDS`` (with SQLite, as always, a job is
interrupted when its process is gone).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from service.database import POSTGRESQL, SQLITE, Connection, Engine, open_engine
from service.schema import Step, migrate

# The tables this module writes, version by version: `service.schema` applies them on both engines (every
# timestamp is ISO 8601 text in UTC, so `migrate-store` copies rows as they are). Change a table by adding a
# step of a new version, never by editing a released one.
SCHEMA = (
    Step(
        1,
        """
CREATE TABLE feedback (
    id {identity},
    created TEXT NOT NULL,
    text TEXT NOT NULL,
    labels TEXT NOT NULL,
    document_id TEXT,
    model_version TEXT,
    source TEXT NOT NULL DEFAULT 'api',
    -- for items of an outside tool (a Label Studio annotation): updates replace the row
    source_project TEXT,
    source_ref TEXT,
    updated TEXT,
    -- issue 22: who gave the labels (an analyst's name, "admin", a Label Studio user)
    annotator TEXT,
    -- issue 21: the register the passage's document comes from (predict's `source`)
    document_source TEXT
);
-- One row per outside item and annotator: two analysts' labels of one queue item are two rows.
CREATE UNIQUE INDEX feedback_source_ref_annotator
    ON feedback (source, source_project, source_ref, coalesce(annotator, ''))
    WHERE source_ref IS NOT NULL;
CREATE INDEX feedback_annotator ON feedback (annotator);
CREATE INDEX feedback_created ON feedback (created);
-- The review queue asks whether a (trimmed) text already has feedback with this very expression
-- (`Dialect.trimmed_text`), so that this index answers it instead of a scan of every row.
CREATE INDEX feedback_trimmed_text ON feedback ({trimmed_text});

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'retrain',
    state TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    pid INTEGER,
    progress TEXT NOT NULL DEFAULT '[]',
    base_version TEXT,
    candidate_version TEXT,
    promoted INTEGER NOT NULL DEFAULT 0,
    metrics TEXT,
    verdict TEXT,
    error TEXT,
    feedback_rows INTEGER,
    -- issue 23: the instance running the job and its last heartbeat
    instance TEXT,
    heartbeat TEXT
);
CREATE INDEX jobs_state ON jobs (state);

-- issue 22: an adjudicator's final labels of a passage its annotators disagree on; `passage` is the SHA-256
-- of the trimmed text (training.feedback.passage_key).
CREATE TABLE adjudications (
    passage TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    labels TEXT NOT NULL,
    adjudicator TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT
);

-- The start-up check's write (`Store.check`).
CREATE TABLE service_checks (name TEXT PRIMARY KEY, time TEXT NOT NULL);
""",
    ),
    # The version every instance serves: one row; `generation` grows with every change (instances compare it);
    # and every version made current, oldest first, and who chose it (operator, gate, training): the fallback
    # order. With SQLite they are the files CURRENT and HISTORY beside the versions (classifier.versions).
    Step(
        1,
        """
CREATE TABLE model_pointer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version TEXT NOT NULL,
    generation {bigint} NOT NULL
);
CREATE TABLE model_history (
    id {identity},
    version TEXT NOT NULL,
    time TEXT NOT NULL,
    chosen_by TEXT NOT NULL,
    UNIQUE (version, time, chosen_by)
);
""",
        engines=(POSTGRESQL,),
    ),
)

# Columns `update_job` may set; names are interpolated into SQL, so only these are accepted.
JOB_COLUMNS = frozenset(
    {"state", "started", "finished", "pid", "base_version", "candidate_version", "promoted", "metrics", "verdict",
     "error", "feedback_rows", "instance", "heartbeat"}
)  # fmt: skip
DEFAULT_HEARTBEAT_SECONDS = 30.0
FEEDBACK_FIELDS = (
    "text", "labels", "document_id", "model_version", "source", "source_project", "source_ref", "annotator",
    "document_source",
)  # fmt: skip
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "rejected", "failed")
QUEUED_GRACE_SECONDS = 60


class StorageError(Exception):
    """The feedback database failed: `status` (503 or 507), a stable `code` and a message naming the cause."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


# SQLite primary result codes (https://sqlite.org/rescode.html) -> (status, code, what it means).
SQLITE_CAUSES = {
    5: (503, "storage_busy", "is busy (locked by another process for too long); retry shortly"),
    6: (503, "storage_busy", "is locked; retry shortly"),
    8: (503, "storage_read_only", "is read-only (file, directory or file system); nothing can be stored"),
    10: (503, "storage_io_error", "cannot be read or written (I/O error)"),
    11: (503, "storage_corrupt", "is corrupt (database disk image is malformed)"),
    13: (507, "storage_full", "cannot grow: the disk is full"),
    14: (503, "storage_unavailable", "cannot be opened"),
    26: (503, "storage_corrupt", "is not an SQLite database (corrupt or overwritten)"),
}
OS_CAUSES = {
    errno.ENOSPC: SQLITE_CAUSES[13],
    errno.EDQUOT: (507, "storage_full", "cannot grow: the disk quota is exhausted"),
    errno.EROFS: SQLITE_CAUSES[8],
    errno.EACCES: (503, "storage_read_only", "is not writable (permission denied)"),
    errno.EPERM: (503, "storage_read_only", "is not writable (operation not permitted)"),
}


def storage_error(exc: BaseException, path: Path) -> StorageError:
    """The `StorageError` of an `sqlite3.Error` or `OSError` met while using the database at `path`."""
    if isinstance(exc, sqlite3.Error):
        primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        status, code, what = SQLITE_CAUSES.get(primary, (503, "storage_error", "failed"))
        if primary == 0 and "readonly" in str(exc):  # some errors come without a result code
            status, code, what = SQLITE_CAUSES[8]
    else:
        status, code, what = OS_CAUSES.get(getattr(exc, "errno", None), (503, "storage_unavailable", "is unusable"))
    if code in ("storage_io_error", "storage_unavailable", "storage_error"):
        # The cause often hides behind a generic code: a full disk fails to grow the WAL index
        # (SQLITE_IOERR_SHMSIZE), a read-only file system fails to open it (SQLITE_CANTOPEN).
        if _read_only(path):
            status, code, what = SQLITE_CAUSES[8]
        elif _disk_full(path):
            status, code, what = SQLITE_CAUSES[13]
    retry = 1 if code == "storage_busy" else None
    return StorageError(status, code, f"the feedback database {path} {what} ({exc})", retry)


FULL_BELOW_BYTES = 64 * 1024


def _disk_full(path: Path) -> bool:
    """True when the file system holding `path` has (almost) no space left for this user."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < FULL_BELOW_BYTES


def _read_only(path: Path) -> bool:
    """True when the database file or its directory cannot be written (read-only mount or permissions)."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


class PassageNotFound(Exception):
    """No named annotator's feedback row has this passage id."""


class NoDisagreement(Exception):
    """The passage's annotators agree (or it has one annotator): there is nothing to adjudicate."""

    def __init__(self, annotators: int):
        super().__init__(annotators)
        self.annotators = annotators


class RetrainRunning(Exception):
    """Another retrain job is queued or running."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def text_sha256(text: str) -> str:
    """SHA-256 of a passage's exact text: the key that makes a text unique in the review queue."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# A hook called inside `add_feedback`'s transaction with (connection, [(text, feedback id, annotator)], time):
# the review queue registers one (`service.review`) so that it, not this module, writes its own table.
FeedbackHook = Callable[[Connection, list[tuple[str, int, str | None]], str], None]


class Store:
    """Feedback rows, adjudications and job records in one database: an SQLite file (a path, or a
    ``sqlite:///path`` URL) or PostgreSQL (a ``postgresql://`` URL)."""

    def __init__(
        self,
        target: Path | str,
        busy_timeout: float = 30.0,
        *,
        pool_size: int = 8,
        timeout: float = 5.0,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        instance: str | None = None,
    ):
        self.engine: Engine = open_engine(target, pool_size=pool_size, timeout=timeout, busy_timeout=busy_timeout)
        self.path = getattr(self.engine, "path", None)  # the SQLite file; None with PostgreSQL
        self.busy_timeout = busy_timeout
        self.heartbeat_seconds = heartbeat_seconds
        self.instance = instance or socket.gethostname()
        self.feedback_hooks: list[FeedbackHook] = []
        self.migrated = False  # set by `init`

    @classmethod
    def from_config(cls, config) -> Store:
        """The store of a service's settings (DATABASE_URL, else FEEDBACK_DB; pool, heartbeat, instance)."""
        from service.database import database_url

        return cls(
            database_url(config),
            pool_size=config.get("DATABASE_POOL_SIZE", 8),
            timeout=config.get("DATABASE_TIMEOUT", 5.0),
            heartbeat_seconds=config.get("JOB_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS),
            instance=config.get("INSTANCE"),
        )

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.kind

    @property
    def display(self) -> str:
        """The database as messages name it (the file, or the URL without its password)."""
        return self.engine.display

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection for one operation; driver failures inside leave as `StorageError`."""
        return self.engine.connect()

    @staticmethod
    def _rollback(conn: Connection) -> None:
        # SQLite may already have rolled back (a full disk does): a second ROLLBACK would raise "no
        # transaction is active" and hide the real error.
        conn.rollback()

    def init(self) -> Store:
        """Create or migrate every table of the store (idempotent) by the schema's versioned migrations
        (`service.schema`), one process at a time; an SQLite file is created if missing, in WAL mode, and one
        made by an older release is adopted first, keeping every row."""
        if self.migrated:
            return self  # this store's start-up did it already (the queue's start calls this again)
        if self.kind == SQLITE:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(exc, self.path) from exc
        migrate(self.engine)
        self.migrated = True
        return self

    def check(self) -> Store:
        """Start-up check: create or migrate the tables, check the file's integrity (SQLite) and that the
        database is writable.

        Raises `StorageError` naming what is wrong.
        """
        self.init()
        with self.connect() as conn:
            if self.kind == SQLITE:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
                if problems != ["ok"]:
                    raise StorageError(
                        503, "storage_corrupt", f"the feedback database {self.path} is corrupt: {'; '.join(problems)}"
                    )
            conn.execute(
                "INSERT INTO service_checks VALUES ('start-up', ?) "
                "ON CONFLICT (name) DO UPDATE SET time = excluded.time",
                (now(),),
            )
        return self

    def ping(self) -> dict:
        """The database's state for /readyz: ``{"engine", "database", "status": "ok"}``, or ``"unavailable"``
        with the error."""
        state = {"engine": self.kind, "database": self.display}
        try:
            with self.connect() as conn:
                conn.execute("SELECT 1").fetchone()
        except StorageError as exc:
            return {**state, "status": "unavailable", "error": exc.message}
        return {**state, "status": "ok"}

    # feedback
    def add_feedback(self, items: list[dict]) -> list[int]:
        """Insert feedback items in one transaction; returns their ids.

        An item has `text` and `labels`, optionally `document_id`, `document_source` (the register its
        document comes from: per-source thresholds are tuned on it), `model_version`, `annotator`, `source`
        (default "api") and, for items of an outside tool, `source_project` and `source_ref`: an item whose
        (source, source_project, source_ref) is already stored replaces that row (same id); with
        `ref_per_annotator` (the review queue) only that annotator's row of the reference. An API or queue
        item of an annotator who already labelled the same (trimmed) text that way replaces their row.
        In the same transaction each of `feedback_hooks` sees the stored rows: the review queue's counts
        them as labels of its items of the same text, whichever route they came by (the page, the API,
        Label Studio).
        """
        ids = []
        created = now()
        with self.connect() as conn:
            conn.begin()
            try:
                for item in items:
                    ids.append(self._put_feedback(conn, item, created))
                stored = [(item["text"], i, item.get("annotator")) for item, i in zip(items, ids, strict=True)]
                for hook in self.feedback_hooks:
                    hook(conn, stored, created)
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise
        return ids

    @staticmethod
    def _put_feedback(conn: Connection, item: dict, created: str) -> int:
        values = {
            "text": item["text"],
            "labels": json.dumps(sorted(set(item["labels"]))),
            "document_id": item.get("document_id"),
            "model_version": item.get("model_version"),
            "source": item.get("source") or "api",
            "source_project": item.get("source_project"),
            "source_ref": item.get("source_ref"),
            "annotator": item.get("annotator"),
            "document_source": item.get("document_source"),
        }
        row = None
        # An outside tool's reference (a Label Studio annotation id) is one user's annotation and stays its own
        # row; a queue item is labelled once per analyst.
        per_annotator = bool(item.get("ref_per_annotator"))
        if values["source_ref"] is not None:
            row = conn.execute(
                f"SELECT id FROM feedback WHERE source = ? AND source_project {conn.dialect.is_} ? AND source_ref = ?"
                + (f" AND annotator {conn.dialect.is_} ?" if per_annotator else "")
                + " ORDER BY id LIMIT 1",
                (values["source"], values["source_project"], values["source_ref"])
                + ((values["annotator"],) if per_annotator else ()),
            ).fetchone()
        if row is None and values["annotator"] is not None and (values["source_ref"] is None or per_annotator):
            # One analyst's second label of the same passage replaces their first, whichever way it came.
            row = conn.execute(
                f"SELECT id FROM feedback WHERE {conn.dialect.trimmed_text} = ? AND annotator = ? ORDER BY id LIMIT 1",
                (values["text"].strip(" \t\n\v\f\r"), values["annotator"]),
            ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE feedback SET text = ?, labels = ?, document_id = ?, model_version = ?, source = ?, "
                "source_project = ?, source_ref = ?, annotator = ?, document_source = ?, updated = ? WHERE id = ?",
                (values["text"], values["labels"], values["document_id"], values["model_version"], values["source"],
                 values["source_project"], values["source_ref"], values["annotator"], values["document_source"],
                 created, row["id"]),
            )  # fmt: skip
            return row["id"]
        cursor = conn.execute(
            f"INSERT INTO feedback (created, {', '.join(FEEDBACK_FIELDS)}) VALUES (?{', ?' * len(FEEDBACK_FIELDS)}) "
            "RETURNING id",
            (created, *(values[name] for name in FEEDBACK_FIELDS)),
        )
        return cursor.fetchone()[0]

    def feedback_count(self) -> int:
        """How many feedback rows are stored."""
        with self.connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def list_feedback(
        self,
        *,
        limit: int = 100,
        after_id: int = 0,
        since: str | None = None,
        until: str | None = None,
        label: str | None = None,
        document_id: str | None = None,
        source: str | None = None,
        annotator: str | None = None,
    ) -> list[dict]:
        """Feedback rows in id order after `after_id` (keyset paging), filtered; `since`/`until` are ISO
        timestamps compared with `created` (since inclusive, until exclusive); `label` matches rows that
        carry that label."""
        where, params = ["id > ?"], [after_id]
        for column, op, value in (("created", ">=", since), ("created", "<", until), ("document_id", "=", document_id),
                                  ("source", "=", source), ("annotator", "=", annotator)):  # fmt: skip
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        with self.connect() as conn:
            if label is not None:
                where.append(conn.dialect.has_label("feedback.labels"))
                params.append(label)
            rows = conn.execute(
                f"SELECT * FROM feedback WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit)
            ).fetchall()
        return [_feedback_dict(row) for row in rows]

    def get_feedback(self, feedback_id: int) -> dict | None:
        """One feedback row, or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
        return _feedback_dict(row) if row else None

    def delete_feedback(self, feedback_id: int) -> bool:
        """Delete one feedback row; False when there was none."""
        with self.connect() as conn:
            return conn.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,)).rowcount > 0

    def delete_feedback_ref(self, source: str, source_project: str | None, source_ref: str) -> int | None:
        """Delete the row an outside tool's item became; returns its id, or None when there was none."""
        with self.connect() as conn:
            row = conn.execute(
                f"DELETE FROM feedback WHERE source = ? AND source_project {conn.dialect.is_} ? AND source_ref = ? "
                "RETURNING id",
                (source, source_project, source_ref),
            ).fetchone()
        return row["id"] if row else None

    # passages and adjudication (the grouping and the resolution rule: training.feedback)
    def passages(self) -> list:
        """Every feedback row grouped into passages with their adjudications (`training.feedback.Passage`)."""
        from training import load_passages

        with self.connect() as conn:
            return load_passages(conn)

    def resolve_passage(self, key: str, labels: list[str], adjudicator: str) -> tuple[object, bool]:
        """Set the final labels of passage `key` (one transaction, which checks that its named annotators still
        disagree); returns (the passage as now stored, whether an earlier adjudication was replaced).

        `PassageNotFound` when no named annotator labelled it; `NoDisagreement` when they agree.
        """
        from training import load_passages

        labels = sorted(set(labels))
        with self.connect() as conn:
            conn.begin()
            try:
                found = [p for p in load_passages(conn) if p.named and p.key == key]
                if not found:
                    raise PassageNotFound(key)
                passage = found[0]
                if not passage.disagreement:
                    raise NoDisagreement(len(passage.labels_by_annotator()))
                replaced = passage.adjudication is not None
                moment = now()
                conn.execute(
                    "INSERT INTO adjudications (passage, text, labels, adjudicator, created) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (passage) DO UPDATE SET labels = excluded.labels, "
                    "adjudicator = excluded.adjudicator, updated = excluded.created",
                    (key, passage.text, json.dumps(labels), adjudicator, moment),
                )
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise
        passage.adjudication = {"labels": labels, "adjudicator": adjudicator, "created": moment}
        return passage, replaced

    # jobs
    def create_job(self, base_version: str | None) -> str:
        """Record a queued retrain job, or raise `RetrainRunning` if one is already queued or running."""
        self.mark_interrupted()
        job_id = uuid.uuid4().hex[:16]
        with self.connect() as conn:
            conn.begin()
            try:
                row = conn.execute(
                    "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created LIMIT 1"
                ).fetchone()
                if row:
                    raise RetrainRunning(row["id"])
                conn.execute(
                    "INSERT INTO jobs (id, state, created, base_version, instance) VALUES (?, 'queued', ?, ?, ?)",
                    (job_id, now(), base_version, self.instance),
                )
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise
        return job_id

    def update_job(self, job_id: str, **fields) -> None:
        """Set columns of a job's row (`JOB_COLUMNS`; metrics and verdict as JSON)."""
        if not fields:
            return
        unknown = set(fields) - JOB_COLUMNS
        if unknown:
            raise ValueError(f"unknown job column(s): {sorted(unknown)}")
        for key in ("metrics", "verdict"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key])
        assignments = ", ".join(f"{key} = ?" for key in fields)
        with self.connect() as conn:
            conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))

    def add_progress(self, job_id: str, message: str) -> None:
        """Append a progress line to a job."""
        entry = json.dumps({"time": now(), "message": message})
        with self.connect() as conn:
            conn.execute(
                f"UPDATE jobs SET progress = {conn.dialect.json_append('progress')} WHERE id = ?", (entry, job_id)
            )

    def heartbeat(self, job_id: str) -> None:
        """Record that the job's process is alive now."""
        with self.connect() as conn:
            conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (now(), job_id))

    def get_job(self, job_id: str) -> dict | None:
        """One job's record, or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_dict(row) if row else None

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.connect() as conn:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    def mark_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose process is gone as failed ("interrupted"); returns their ids.

        A job of this instance (every job, with SQLite) is gone when its process is; with PostgreSQL a job of
        another instance is gone when its last heartbeat (else its start) is older than `heartbeat_seconds`.
        """
        marked = []
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, state, pid, created, started, instance, heartbeat FROM jobs "
                "WHERE state IN ('queued', 'running')"
            ).fetchall()
            for row in rows:
                error = self._interruption(row)
                if error is None:
                    continue
                conn.execute(
                    "UPDATE jobs SET state = 'failed', error = ?, finished = ? "
                    "WHERE id = ? AND state IN ('queued', 'running')",
                    (error, now(), row["id"]),
                )
                marked.append(row["id"])
        return marked

    def _interruption(self, row) -> str | None:
        """Why an active job is to be marked interrupted, or None while it may still be running."""
        if self.kind == POSTGRESQL and row["instance"] != self.instance:
            last = row["heartbeat"] or row["started"] or row["created"]
            silent = time.time() - datetime.fromisoformat(last).timestamp()
            if silent < max(self.heartbeat_seconds, QUEUED_GRACE_SECONDS if row["pid"] is None else 0):
                return None
            return f"interrupted: no heartbeat from instance {row['instance']} for {silent:.0f} s"
        if row["pid"] is None:
            created = datetime.fromisoformat(row["created"]).timestamp()
            if time.time() - created < QUEUED_GRACE_SECONDS:
                return None  # being started right now
        elif pid_alive(row["pid"]):
            return None
        return "interrupted"


def _feedback_dict(row) -> dict:
    item = dict(row)
    item["labels"] = json.loads(item["labels"])
    return item


def _job_dict(row) -> dict:
    job = dict(row)
    job["progress"] = json.loads(job["progress"] or "[]")
    for key in ("metrics", "verdict"):
        job[key] = json.loads(job[key]) if job[key] else None
    job["promoted"] = bool(job["promoted"])
    return job


# The current-version pointer in the database (PostgreSQL; SQLite keeps it in files: classifier.versions)
POINTER_CHANNEL = "hta_model_pointer"  # NOTIFY'd on every change: instances re-read the pointer at once
HISTORY_READ = 200  # the newest history rows read for the fallback order (classifier.versions.HISTORY_KEEP)


def read_pointer_row(store: Store):
    """The pointer and history in `store`'s database as a `classifier.versions.PointerState`."""
    from classifier.versions import PointerState

    with store.connect() as conn:
        row = conn.execute("SELECT version, generation FROM model_pointer WHERE id = 1").fetchone()
        history = conn.execute(
            "SELECT version, time, chosen_by FROM model_history ORDER BY id DESC LIMIT ?", (HISTORY_READ,)
        ).fetchall()
    entries = [{"version": r["version"], "time": r["time"], "by": r["chosen_by"]} for r in reversed(history)]
    return PointerState(row["version"] if row else None, entries, row["generation"] if row else 0)


def write_pointer_row(store: Store, version: str, chosen_by: str, moment: str | None = None) -> None:
    """Make `version` current in `store`'s database and record who chose it, in one transaction that tells
    every listening instance (NOTIFY on commit)."""
    moment = moment or datetime.now(UTC).isoformat(timespec="seconds")
    with store.connect() as conn:
        conn.begin()
        try:
            conn.execute("INSERT INTO model_history (version, time, chosen_by) VALUES (?, ?, ?)",
                         (version, moment, chosen_by))  # fmt: skip
            conn.execute(
                "INSERT INTO model_pointer (id, version, generation) VALUES (1, ?, 1) ON CONFLICT (id) DO UPDATE "
                "SET version = excluded.version, generation = model_pointer.generation + 1",
                (version,),
            )
            if conn.dialect.name == POSTGRESQL:
                conn.execute("SELECT pg_notify(?, ?)", (POINTER_CHANNEL, version))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def seed_pointer_rows(store: Store, current: str | None, history: list[dict]) -> bool:
    """Record `history` and make `current` current in a database that has no pointer yet (one transaction,
    under the write lock: of instances starting at once, the first seeds); returns whether it did."""
    if current is None:
        return False
    with store.connect() as conn:
        conn.begin()
        try:
            if conn.execute("SELECT 1 FROM model_pointer WHERE id = 1").fetchone() is not None:
                conn.rollback()
                return False
            for entry in history:
                conn.execute(
                    "INSERT INTO model_history (version, time, chosen_by) VALUES (?, ?, ?) "
                    "ON CONFLICT (version, time, chosen_by) DO NOTHING",
                    (entry["version"], entry.get("time") or "", entry.get("by") or "operator"),
                )
            conn.execute("INSERT INTO model_pointer (id, version, generation) VALUES (1, ?, 1)", (current,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return True
