"""The review queue's pool of passages, in the service's store (the same database and connections as
`service.store.Store`: its SQLite file in WAL mode, or its PostgreSQL database; one short connection per
operation, writes serialised across every instance, so two analysts on two hosts never lease one passage
beyond its overlap).

A queue item is one passage waiting for an analyst's labels: its text (unique: the same text is never
queued twice), where it came from (``api`` or ``capture``), its document id and offsets when it was cut
from a document, the text around it in that document (`context_before`/`context_after`), its state
(``pending``, ``labelled``, ``skipped``) and, as a cache, the scores of the model version that last
scored it, so ranking the pool re-scores only what a new version has not seen.

Only pending items count towards the pool's size cap; labelled and skipped items are kept as the
record of what was done (and so that the same text is not queued again).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson  # the cached scores are read for every pending item on every ranking: orjson is ~20x json here

from classifier.language import identify_many
from classifier.segment import Passage, segment
from service.database import Connection
from service.schema import Step
from service.store import Store, text_sha256

# The queue's tables, version by version (`service.schema` applies them on both engines; see service/store.py).
SCHEMA = (
    Step(
        1,
        """
CREATE TABLE queue_items (
    id {identity},
    created TEXT NOT NULL,
    text TEXT NOT NULL,
    text_sha256 TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL,
    document_id TEXT,
    start INTEGER,
    "end" INTEGER,
    kind TEXT,
    context_before TEXT NOT NULL DEFAULT '',
    context_after TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    decided TEXT,
    feedback_id {bigint},
    scores TEXT,
    scored_version TEXT,
    -- issue 20: the passage's language (ISO 639-1), identified when it is queued
    language TEXT
);
CREATE INDEX queue_items_state ON queue_items (state, id);
CREATE INDEX queue_items_origin ON queue_items (origin, created);
CREATE INDEX queue_items_language ON queue_items (state, language, id);
-- issue 22: one row per annotator's labels of an item, and the analysts' live leases on items
CREATE TABLE queue_labels (
    item_id {bigint} NOT NULL,
    annotator TEXT NOT NULL,
    feedback_id {bigint} NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
CREATE TABLE queue_leases (
    item_id {bigint} NOT NULL,
    annotator TEXT NOT NULL,
    expires {double} NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
""",
    ),
)
# Labels without a named annotator (HTA_LABELS_OPEN) count as this one annotator.
ANONYMOUS = ""
# An item is offered to an analyst while it is pending, they have not labelled it, and its labels plus the
# other analysts' live leases are fewer than the overlap (parameters: annotator, now, annotator, overlap).
AVAILABLE_SQL = """
SELECT q.id FROM queue_items q
WHERE q.state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM queue_labels l WHERE l.item_id = q.id AND l.annotator = ?)
  AND (SELECT COUNT(*) FROM queue_labels l WHERE l.item_id = q.id)
    + (SELECT COUNT(*) FROM queue_leases s WHERE s.item_id = q.id AND s.expires > ? AND s.annotator != ?) < ?
"""
STATES = ("pending", "labelled", "skipped")
ORIGINS = ("api", "capture")
# Neighbouring passages shown on each side of a queued passage, and at most this many characters of them.
CONTEXT_PASSAGES = 2
CONTEXT_CHARS = 400
ITEM_COLUMNS = (
    'id, created, text, origin, document_id, start, "end", kind, context_before, context_after, state, decided, '
    "feedback_id, language"
)


@dataclass(frozen=True, slots=True)
class NewItem:
    """A passage to queue: its text and, when cut from a document, where it sits in it."""

    text: str
    document_id: str | None = None
    start: int | None = None
    end: int | None = None
    kind: str | None = None
    context_before: str = ""
    context_after: str = ""
    scores: tuple[float, ...] | None = None  # already computed by `scored_version` (capture)
    scored_version: str | None = None
    language: str | None = None  # ISO 639-1; identified when the item is queued if not given


@dataclass(frozen=True, slots=True)
class AddResult:
    """What an insert did: ids of the items added, how many were already queued, how many old ones dropped."""

    ids: list[int]
    duplicates: int
    dropped: int


class ItemNotFound(Exception):
    """No queue item has this id."""


class AlreadyLabelled(Exception):
    """The item was labelled already (a skip would lose that)."""


def _dump_scores(scores) -> str | None:
    return None if scores is None else orjson.dumps(list(scores)).decode("ascii")


def now() -> str:
    """The current UTC time in the ISO format of every timestamp of the store."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def document_items(
    text: str,
    document_id: str | None,
    passages: Iterable[Passage] | None = None,
    scores: list[tuple[float, ...] | None] | None = None,
    scored_version: str | None = None,
) -> list[NewItem]:
    """The passages of one document as queue items, each with its offsets and the text around it.

    `passages` defaults to `segment(text)`; `scores` (one per passage, or None) are cached with
    `scored_version` when the caller already scored them.
    """
    cut = list(segment(text) if passages is None else passages)
    items = []
    for i, passage in enumerate(cut):
        before_from = cut[max(0, i - CONTEXT_PASSAGES)].start if i else passage.start
        after_to = cut[min(len(cut) - 1, i + CONTEXT_PASSAGES)].end
        before = text[before_from : passage.start]
        after = text[passage.end : after_to]
        items.append(
            NewItem(
                text=passage.text,
                document_id=document_id,
                start=passage.start,
                end=passage.end,
                kind=passage.kind,
                context_before=before[-CONTEXT_CHARS:] if len(before) > CONTEXT_CHARS else before,
                context_after=after[:CONTEXT_CHARS],
                scores=scores[i] if scores else None,
                scored_version=scored_version if scores and scores[i] is not None else None,
            )
        )
    return items


def _texts_with_feedback(conn: Connection, texts: list[str]) -> set[str]:
    """Which of the (stripped) `texts` already have a feedback row, whitespace around it aside."""
    found: set[str] = set()
    unique = list(dict.fromkeys(texts))
    for start in range(0, len(unique), 500):  # well under SQLite's limit on bound variables
        batch = unique[start : start + 500]
        marks = ", ".join("?" * len(batch))
        sql = f"SELECT text FROM feedback WHERE {conn.dialect.trimmed_text} IN ({marks})"  # feedback_trimmed_text
        found.update(row[0].strip() for row in conn.execute(sql, batch))
    return found


def clock() -> float:
    """Seconds since the epoch: the time leases are measured with (tests replace it to expire one)."""
    return time.time()


def settle_labels(conn: Connection, stored: list[tuple[str, int, str | None]], decided: str, overlap: int) -> None:
    """Count feedback rows as labels of the queue items of the same (stripped) text, one per annotator, and
    mark an item labelled once `overlap` distinct annotators labelled it (their leases on it end)."""
    for text, feedback_id, annotator in stored:
        who = ANONYMOUS if annotator is None else annotator
        item = conn.execute(
            "SELECT id FROM queue_items WHERE text_sha256 = ?", (text_sha256(text.strip()),)
        ).fetchone()  # queued texts are stripped
        if item is None:
            continue
        conn.execute(
            "INSERT INTO queue_labels (item_id, annotator, feedback_id, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (item_id, annotator) DO UPDATE SET feedback_id = excluded.feedback_id",
            (item["id"], who, feedback_id, decided),
        )
        conn.execute("DELETE FROM queue_leases WHERE item_id = ? AND annotator = ?", (item["id"], who))
        conn.execute(
            "UPDATE queue_items SET state = 'labelled', decided = ?, feedback_id = ? WHERE id = ? "
            "AND state != 'labelled' AND (SELECT COUNT(*) FROM queue_labels WHERE item_id = ?) >= ?",
            (decided, feedback_id, item["id"], item["id"], overlap),
        )


class QueueStore:
    """The review queue's items in the service's store: a `Store`, or what opens one (an SQLite file's path,
    a database URL)."""

    def __init__(self, target: Store | Path | str):
        self.store = target if isinstance(target, Store) else Store(target)
        self.path = self.store.path

    def connect(self) -> AbstractContextManager[Connection]:
        """A short-lived connection in autocommit mode (transactions are explicit): the feedback store's,
        so driver failures leave as `StorageError` naming the cause (503/507, not a 500)."""
        return self.store.connect()

    def init(self) -> QueueStore:
        """Create or migrate the store's tables, the queue's among them (`Store.init`), and identify the
        language of items that have none (queued before languages were recorded, or undetermined then)."""
        self.store.init()
        with self.connect() as conn:
            unknown = conn.execute("SELECT id, text FROM queue_items WHERE language IS NULL").fetchall()
            if unknown:  # items queued before languages were recorded (or undetermined ones: cheap to retry)
                codes = identify_many([row["text"] for row in unknown])
                conn.executemany(
                    "UPDATE queue_items SET language = ? WHERE id = ?",
                    [(guess.code, row["id"]) for guess, row in zip(codes, unknown, strict=True) if guess.code],
                )
        return self

    def add(
        self,
        items: list[NewItem],
        origin: str,
        *,
        max_pending: int,
        max_origin_pending: int | None = None,
        max_age_seconds: float | None = None,
        second_look: bool = False,
    ) -> AddResult:
        """Queue `items` in one transaction, then drop the oldest pending items over `max_pending` (and,
        for this origin, over `max_origin_pending` or older than `max_age_seconds`).

        A text already queued (in any state), given twice, or already labelled as feedback (through any
        route) is counted as a duplicate and not added. With `second_look` (the label-error screen's
        ``--to-queue``) a labelled text is queued again as pending (a labelled or skipped item of it too):
        its next labels are counted afresh, an analyst's relabel replacing their own row.
        """
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        created = now()
        ids, duplicates = [], 0
        guessed = identify_many([item.text for item in items if item.language is None])
        languages = iter(guess.code for guess in guessed)
        codes = [item.language if item.language is not None else next(languages) for item in items]
        with self.connect() as conn:
            conn.begin()
            try:
                labelled = set() if second_look else _texts_with_feedback(conn, [item.text for item in items])
                for item, language in zip(items, codes, strict=True):
                    if item.text in labelled:
                        duplicates += 1
                        continue
                    if second_look:
                        again = conn.execute(
                            "UPDATE queue_items SET state = 'pending', decided = NULL WHERE text_sha256 = ? "
                            "AND state != 'pending' RETURNING id",
                            (text_sha256(item.text),),
                        ).fetchone()
                        if again is not None:
                            conn.execute("DELETE FROM queue_labels WHERE item_id = ?", (again["id"],))
                            ids.append(again["id"])
                            continue
                    row = conn.execute(
                        "INSERT INTO queue_items (created, text, text_sha256, origin, document_id, start, \"end\", "
                        "kind, context_before, context_after, scores, scored_version, language) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (text_sha256) DO NOTHING "
                        "RETURNING id",
                        (created, item.text, text_sha256(item.text), origin, item.document_id, item.start, item.end,
                         item.kind, item.context_before, item.context_after,
                         _dump_scores(item.scores), item.scored_version, language),
                    ).fetchone()  # fmt: skip
                    if row is None:
                        duplicates += 1
                    else:
                        ids.append(row["id"])
                dropped = self._trim(conn, origin, max_pending, max_origin_pending, max_age_seconds)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        kept = set(self._existing(ids)) if dropped else set(ids)
        return AddResult([i for i in ids if i in kept], duplicates, dropped)

    def _existing(self, ids: list[int]) -> list[int]:
        if not ids:
            return []
        with self.connect() as conn:
            rows = conn.execute(f"SELECT id FROM queue_items WHERE id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        return [row["id"] for row in rows]

    @staticmethod
    def _trim(
        conn: Connection,
        origin: str,
        max_pending: int,
        max_origin_pending: int | None,
        max_age_seconds: float | None,
    ) -> int:
        dropped = 0
        if max_age_seconds is not None:
            cutoff = (datetime.now(UTC) - timedelta(seconds=max_age_seconds)).isoformat(timespec="milliseconds")
            # Labelled items are feedback already; pending and skipped captured text is not kept past its age.
            dropped += conn.execute(
                "DELETE FROM queue_items WHERE origin = ? AND state != 'labelled' AND created < ?", (origin, cutoff)
            ).rowcount
        if max_origin_pending is not None:
            dropped += conn.execute(
                "DELETE FROM queue_items WHERE id IN (SELECT id FROM queue_items WHERE state = 'pending' "
                f"AND origin = ? ORDER BY id DESC {conn.dialect.no_limit} OFFSET ?)",
                (origin, max_origin_pending),
            ).rowcount
        dropped += conn.execute(
            "DELETE FROM queue_items WHERE id IN (SELECT id FROM queue_items WHERE state = 'pending' "
            f"ORDER BY id DESC {conn.dialect.no_limit} OFFSET ?)",
            (max_pending,),
        ).rowcount
        return dropped

    def expire(self, origin: str, max_age_seconds: float) -> int:
        """Drop the pending and skipped items of `origin` older than `max_age_seconds`; returns how many."""
        with self.connect() as conn:
            conn.begin()
            try:
                dropped = self._trim(conn, origin, 2**62, None, max_age_seconds)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return dropped

    def available(self, annotator: str, overlap: int) -> set[int]:
        """Ids of the pending items that may be offered to `annotator` now (see `AVAILABLE_SQL`)."""
        with self.connect() as conn:
            rows = conn.execute(AVAILABLE_SQL, (annotator, clock(), annotator, overlap)).fetchall()
        return {row["id"] for row in rows}

    def lease(self, annotator: str, ids: list[int], limit: int, overlap: int, seconds: float) -> list[int]:
        """Lease to `annotator`, in the order given, up to `limit` of `ids` still available to them, for
        `seconds`; returns the leased ids. One transaction: two analysts asking at once never both get an
        item beyond its overlap."""
        leased: list[int] = []
        with self.connect() as conn:
            conn.begin()
            try:
                moment = clock()
                conn.execute("DELETE FROM queue_leases WHERE expires <= ?", (moment,))
                still = {row["id"] for row in conn.execute(AVAILABLE_SQL, (annotator, moment, annotator, overlap))}
                for item_id in ids:
                    if len(leased) == limit:
                        break
                    if item_id in still:
                        conn.execute(
                            "INSERT INTO queue_leases (item_id, annotator, expires) VALUES (?, ?, ?) "
                            "ON CONFLICT (item_id, annotator) DO UPDATE SET expires = excluded.expires",
                            (item_id, annotator, moment + seconds),
                        )
                        leased.append(item_id)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return leased

    def labels_of(self, item_id: int) -> int:
        """How many distinct annotators labelled this item."""
        with self.connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM queue_labels WHERE item_id = ?", (item_id,)).fetchone()[0]

    def pending_scores(self, language: str | None = None) -> list[dict]:
        """Every pending item's id, text, document id and cached scores (``None`` when never scored); only
        those in `language` when it is given."""
        columns = "id, text, document_id, scores, scored_version"
        with self.connect() as conn:
            if language is None:
                sql = f"SELECT {columns} FROM queue_items WHERE state = 'pending' ORDER BY id"
                rows = conn.execute(sql).fetchall()
            else:
                sql = f"SELECT {columns} FROM queue_items WHERE state = 'pending' AND language = ? ORDER BY id"
                rows = conn.execute(sql, (language,)).fetchall()
        return [
            {
                "id": row["id"],
                "text": row["text"],
                "document_id": row["document_id"],
                "scores": orjson.loads(row["scores"]) if row["scores"] else None,
                "scored_version": row["scored_version"],
            }
            for row in rows
        ]

    def cache_scores(self, version: str, scores: dict[int, list[float]]) -> None:
        """Remember the scores `version` gave these items (id -> scores in label order)."""
        if not scores:
            return
        with self.connect() as conn:
            conn.begin()
            try:
                conn.executemany(
                    "UPDATE queue_items SET scores = ?, scored_version = ? WHERE id = ?",
                    [(_dump_scores(values), version, item_id) for item_id, values in scores.items()],
                )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def get(self, item_id: int) -> dict | None:
        """One item (without its cached scores), or None."""
        with self.connect() as conn:
            row = conn.execute(f"SELECT {ITEM_COLUMNS} FROM queue_items WHERE id = ?", (item_id,)).fetchone()
        return dict(row) if row else None

    def get_many(self, ids: list[int]) -> dict[int, dict]:
        """Items by id (those that exist)."""
        if not ids:
            return {}
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM queue_items WHERE id IN ({', '.join('?' * len(ids))})", ids
            ).fetchall()
        return {row["id"]: dict(row) for row in rows}

    def mark_skipped(self, item_id: int) -> dict:
        """Mark a pending (or already skipped) item skipped; `AlreadyLabelled` if it was labelled."""
        with self.connect() as conn:
            conn.begin()
            try:
                row = conn.execute("SELECT state FROM queue_items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    raise ItemNotFound(item_id)
                if row["state"] == "labelled":
                    raise AlreadyLabelled(item_id)
                if row["state"] == "pending":
                    conn.execute("UPDATE queue_items SET state = 'skipped', decided = ? WHERE id = ?", (now(), item_id))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return self.get(item_id)

    def mark_labelled(self, item_id: int, feedback_id: int) -> dict:
        """Mark an item labelled by feedback row `feedback_id` (any earlier state)."""
        with self.connect() as conn:
            updated = conn.execute(
                "UPDATE queue_items SET state = 'labelled', decided = ?, feedback_id = ? WHERE id = ?",
                (now(), feedback_id, item_id),
            ).rowcount
        if not updated:
            raise ItemNotFound(item_id)
        return self.get(item_id)

    def counts(self) -> dict[str, int]:
        """How many items are in each state (every state present, 0 when none)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM queue_items GROUP BY state").fetchall()
        found = {row["state"]: row["n"] for row in rows}
        return {state: found.get(state, 0) for state in STATES}
