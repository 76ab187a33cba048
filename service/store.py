"""The embedded SQLite store of feedback and retrain jobs (WAL mode, one short connection per operation).

Every gunicorn worker and the retrain job process open the same file, so any worker can answer
``GET /v1/jobs/<id>`` and feedback is durable as soon as the insert commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    text TEXT NOT NULL,
    labels TEXT NOT NULL,
    document_id TEXT,
    model_version TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
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
    feedback_rows INTEGER
);
"""

# Columns `update_job` may set; names are interpolated into SQL, so only these are accepted.
JOB_COLUMNS = frozenset(
    {"state", "started", "finished", "pid", "base_version", "candidate_version", "promoted", "metrics", "verdict",
     "error", "feedback_rows"}
)  # fmt: skip
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "rejected", "failed")
QUEUED_GRACE_SECONDS = 60


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


class Store:
    """Feedback rows and job records in one SQLite file."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.row_factory = sqlite3.Row
            yield conn
        finally:
            conn.close()

    def init(self) -> Store:
        """Create the file and tables (idempotent) and switch the database to WAL mode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
        return self

    # feedback
    def add_feedback(self, items: list[dict]) -> list[int]:
        """Insert feedback items (text, labels, document_id, model_version) in one transaction."""
        ids = []
        created = now()
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in items:
                    cursor = conn.execute(
                        "INSERT INTO feedback (created, text, labels, document_id, model_version) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            created,
                            item["text"],
                            json.dumps(item["labels"]),
                            item.get("document_id"),
                            item.get("model_version"),
                        ),
                    )
                    ids.append(cursor.lastrowid)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return ids

    def feedback_count(self) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    # jobs
    def create_job(self, base_version: str | None) -> str:
        """Record a queued retrain job, or raise `RetrainRunning` if one is already queued or running."""
        self.mark_interrupted()
        job_id = uuid.uuid4().hex[:16]
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created LIMIT 1"
                ).fetchone()
                if row:
                    raise RetrainRunning(row["id"])
                conn.execute(
                    "INSERT INTO jobs (id, state, created, base_version) VALUES (?, 'queued', ?, ?)",
                    (job_id, now(), base_version),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return job_id

    def update_job(self, job_id: str, **fields) -> None:
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
        entry = json.dumps({"time": now(), "message": message})
        with self.connect() as conn:
            conn.execute(
                "UPDATE jobs SET progress = json_insert(progress, '$[#]', json(?)) WHERE id = ?", (entry, job_id)
            )

    def get_job(self, job_id: str) -> dict | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_dict(row) if row else None

    def job_counts(self) -> dict[str, int]:
        with self.connect() as conn:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    def mark_interrupted(self) -> list[str]:
        """Mark queued/running jobs whose process is gone as failed ("interrupted"); returns their ids."""
        marked = []
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, state, pid, created FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchall()
            for row in rows:
                if row["pid"] is None:
                    created = datetime.fromisoformat(row["created"]).timestamp()
                    if time.time() - created < QUEUED_GRACE_SECONDS:
                        continue  # being started right now
                elif pid_alive(row["pid"]):
                    continue
                conn.execute(
                    "UPDATE jobs SET state = 'failed', error = 'interrupted', finished = ? "
                    "WHERE id = ? AND state IN ('queued', 'running')",
                    (now(), row["id"]),
                )
                marked.append(row["id"])
        return marked


def _job_dict(row: sqlite3.Row) -> dict:
    job = dict(row)
    job["progress"] = json.loads(job["progress"] or "[]")
    for key in ("metrics", "verdict"):
        job[key] = json.loads(job[key]) if job[key] else None
    job["promoted"] = bool(job["promoted"])
    return job
