"""Export the service's stored feedback (its SQLite file) as training JSONL. Pure sqlite3, no Flask.

Each feedback row becomes ``{"id": "feedback-<n>", "text", "labels", "doc", "source"}``;
``doc`` is the row's document id when it has one, so grouped splits keep a document's passages together;
``source`` is the register the row's document comes from (its ``document_source``, the `source` a
prediction names: per-source thresholds are tuned on it), else ``"feedback"``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from classifier.io import atomic_output

# The `source` of a feedback row whose document's register was not named.
FEEDBACK_SOURCE = "feedback"


class FeedbackError(Exception):
    """The feedback database is missing or not a feedback store."""


def read_feedback(db_path: Path | str) -> list[dict]:
    """The feedback rows of `db_path` as training records, oldest first."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FeedbackError(f"{db_path}: no such feedback database")
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}
        origin = "document_source" if "document_source" in columns else "NULL"  # a store of an older release
        rows = conn.execute(
            f"SELECT id, text, labels, document_id, model_version, created, {origin} FROM feedback ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise FeedbackError(f"{db_path}: not a feedback database ({exc})") from None
    finally:
        conn.close()
    records = []
    for row_id, text, labels, document_id, model_version, created, document_source in rows:
        record = {
            "id": f"feedback-{row_id}",
            "text": text,
            "labels": json.loads(labels),
            "doc": f"feedback-doc:{document_id}" if document_id else f"feedback-{row_id}",
            "source": document_source or FEEDBACK_SOURCE,
            "created": created,
        }
        if model_version:
            record["model_version"] = model_version
        records.append(record)
    return records


def export_feedback(db_path: Path | str, out_path: Path | str) -> int:
    """Write the feedback of `db_path` to `out_path` as JSONL (atomically); returns the row count."""
    records = read_feedback(db_path)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(out_path)) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)
