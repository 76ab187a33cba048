"""The service's stored feedback as training records: the one resolution rule. No Flask; the store's connection
of either engine (SQLite, PostgreSQL: `service.database.Connection`) or a plain sqlite3 connection.

Feedback rows are grouped into **passages**: the rows of named annotators (an analyst's name, "admin", a
Label Studio user) whose texts are the same once the white space around them is trimmed. What a passage
teaches is decided by `resolve` and nothing else (the retrain job, ``python -m training export-feedback``,
``GET /v1/disagreements`` and ``GET /v1/agreement`` all go through it):

1. the labels an adjudicator set (``POST /v1/disagreements/<id>/resolve``), when there are some;
2. else the labels all its annotators agree on (one annotator agrees with themself);
3. else (an unresolved disagreement) nothing: the passage is **held back** from training and counted.

Rows without a named annotator (the single-user set-up, ``HTA_LABELS_OPEN`` without a token) are taken as
given, one record per row, as before analysts had names.

Each record is ``{"id": "feedback-<n>", "text", "labels", "doc", "source", "created",
"annotators", "resolution"}`` (and ``adjudicator``, ``model_version`` when known): ``n`` is the passage's
first row; ``doc`` is its document id when it has one, so grouped splits keep a document's passages
together; ``annotators`` lists the names whose labels it carries; ``resolution`` is ``adjudicated``,
``agreed`` or ``single`` (one annotator, or none named).
``source`` is the register the passage's document comes from (its rows' ``document_source``, the `source` a
prediction names: per-source thresholds are tuned on it), else ``"feedback"``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from classifier.io import atomic_output

# The characters the store's trimmed text (`service.database.Dialect.trimmed_text`) removes: the same passage
# key on both sides.
TRIM_CHARS = " \t\n\v\f\r"
FEEDBACK_COLUMNS = ("id", "text", "labels", "document_id", "model_version", "created")
# Columns later releases added, read as NULL from a store made before them (every row anonymous when it has
# no annotator column; no register when it has no document_source).
LATER_COLUMNS = ("annotator", "source", "document_source")
ADJUDICATIONS_TABLE = "adjudications"
# The `source` of a feedback row whose document's register was not named.
FEEDBACK_SOURCE = "feedback"


class FeedbackError(Exception):
    """The feedback database is missing or not a feedback store."""


def passage_key(text: str) -> str:
    """A passage's id: the SHA-256 of its text with the white space around it trimmed."""
    return hashlib.sha256(text.strip(TRIM_CHARS).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Passage:
    """One passage's feedback rows (oldest first) and its adjudication, if any."""

    key: str
    rows: list[dict] = field(default_factory=list)
    adjudication: dict | None = None  # {"labels", "adjudicator", "created"}

    @property
    def text(self) -> str:
        """The passage's text (as its first row has it)."""
        return self.rows[0]["text"]

    @property
    def document_id(self) -> str | None:
        """The document id the first of its rows that names one gives, else None."""
        return next((row["document_id"] for row in self.rows if row["document_id"]), None)

    @property
    def named(self) -> bool:
        """Whether the rows are named annotators' (grouped) rather than one anonymous row."""
        return self.rows[0]["annotator"] is not None

    def labels_by_annotator(self) -> dict[str, list[str]]:
        """Each named annotator's labels (sorted), in the order they first labelled it."""
        return {row["annotator"]: sorted(row["labels"]) for row in self.rows if row["annotator"] is not None}

    @property
    def disagreement(self) -> bool:
        """Whether its annotators differ on any label."""
        return len({tuple(labels) for labels in self.labels_by_annotator().values()}) > 1


@dataclass(frozen=True)
class Resolution:
    """What a passage teaches: `labels` (None: held back) and how they were reached."""

    labels: list[str] | None
    how: str  # "adjudicated", "agreed", "single" or "disagreement" (held back)


def resolve(passage: Passage) -> Resolution:
    """The one rule (module docstring): adjudicated labels, else the labels all annotators agree on, else held back."""
    if passage.adjudication is not None:
        return Resolution(sorted(passage.adjudication["labels"]), "adjudicated")
    if not passage.named:
        return Resolution(sorted(passage.rows[0]["labels"]), "single")
    given = passage.labels_by_annotator()
    if len({tuple(labels) for labels in given.values()}) > 1:
        return Resolution(None, "disagreement")
    return Resolution(next(iter(given.values())), "single" if len(given) == 1 else "agreed")


def group_passages(rows: list[dict], adjudications: dict[str, dict] | None = None) -> list[Passage]:
    """Feedback rows (dicts with id, text, labels, annotator, ...) as passages in the order of their first
    row; each anonymous row is a passage of its own. `adjudications` maps passage keys to adjudications."""
    adjudications = adjudications or {}
    passages: dict[str, Passage] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        key = passage_key(row["text"])
        slot = key if row["annotator"] is not None else f"row:{row['id']}"
        if slot not in passages:
            passages[slot] = Passage(key)
        passages[slot].rows.append(row)
    for passage in passages.values():
        if passage.named:
            passage.adjudication = adjudications.get(passage.key)
    return list(passages.values())


def _columns(conn, table: str) -> set[str]:
    """The columns of `table` (none when it does not exist): the store connection's own answer, else SQLite's."""
    if hasattr(conn, "columns"):
        return conn.columns(table)
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def load_passages(conn) -> list[Passage]:
    """Every feedback row and adjudication of an open store (an sqlite3 connection, or the service store's
    connection of either engine), as passages (a store made before adjudication existed has no
    adjudications table: none then; columns added later read as NULL)."""
    present = _columns(conn, "feedback")
    names = FEEDBACK_COLUMNS + LATER_COLUMNS
    selected = ", ".join(name if name in present or name in FEEDBACK_COLUMNS else "NULL" for name in names)
    rows = []
    for values in conn.execute(f"SELECT {selected} FROM feedback ORDER BY id"):
        row = dict(zip(names, values, strict=True))
        row["labels"] = json.loads(row["labels"])
        rows.append(row)
    adjudications = {}
    if _columns(conn, ADJUDICATIONS_TABLE):
        for r in conn.execute(f"SELECT passage, labels, adjudicator, created FROM {ADJUDICATIONS_TABLE}"):
            adjudications[r[0]] = {"labels": json.loads(r[1]), "adjudicator": r[2], "created": r[3]}
    return group_passages(rows, adjudications)


def passage_record(passage: Passage, resolution: Resolution) -> dict:
    """The training record of a passage that teaches something (`resolution.labels` is not None)."""
    first = passage.rows[0]
    document_id = passage.document_id
    record = {
        "id": f"feedback-{first['id']}",
        "text": first["text"],
        "labels": resolution.labels,
        "doc": f"feedback-doc:{document_id}" if document_id else f"feedback-{first['id']}",
        "source": next((row["document_source"] for row in passage.rows if row.get("document_source")), None)
        or FEEDBACK_SOURCE,
        "created": first["created"],
        "annotators": list(passage.labels_by_annotator()),
        "resolution": resolution.how,
    }
    if resolution.how == "adjudicated":
        record["adjudicator"] = passage.adjudication["adjudicator"]
    model_version = next((row["model_version"] for row in passage.rows if row["model_version"]), None)
    if model_version:
        record["model_version"] = model_version
    return record


@dataclass(frozen=True)
class FeedbackView:
    """The resolved feedback: training `records` and the passages `held_back` (unresolved disagreements)."""

    records: list[dict]
    held_back: list[Passage]
    rows: int  # feedback rows read


def resolved_view(passages: list[Passage]) -> FeedbackView:
    """Apply `resolve` to every passage."""
    records, held_back = [], []
    for passage in passages:
        resolution = resolve(passage)
        if resolution.labels is None:
            held_back.append(passage)
        else:
            records.append(passage_record(passage, resolution))
    return FeedbackView(records, held_back, sum(len(p.rows) for p in passages))


def read_feedback_view(db_path: Path | str) -> FeedbackView:
    """The resolved feedback of the store at `db_path` (see the module docstring)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FeedbackError(f"{db_path}: no such feedback database")
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        passages = load_passages(conn)
    except sqlite3.DatabaseError as exc:
        raise FeedbackError(f"{db_path}: not a feedback database ({exc})") from None
    finally:
        conn.close()
    return resolved_view(passages)


def read_feedback(db_path: Path | str) -> list[dict]:
    """The resolved training records of `db_path`, oldest passage first (held-back passages left out)."""
    return read_feedback_view(db_path).records


def export_feedback(db_path: Path | str, out_path: Path | str) -> FeedbackView:
    """Write the resolved feedback of `db_path` to `out_path` as JSONL (atomically); returns the view written."""
    view = read_feedback_view(db_path)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(out_path)) as handle:
        for record in view.records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return view
