"""Ranking the review queue's pending passages with the current model, re-scoring only what it has not seen.

Scores are cached in the queue's SQLite rows per model version (`QueueStore.cache_scores`), so every
worker shares them and a request scores only the passages queued since the last ranking (or all of
them once after a model switch). Selection (`training.select`, its default strategy, from training's public API) sees a
`Predictor` whose scorer answers `predict_proba` from that cache.
"""

from __future__ import annotations

import numpy as np

from classifier.predictor import Predictor
from service.review.store import QueueStore
from training import DEFAULT_STRATEGY, select, threshold_margins

EVIDENCE_TERMS = 5
# Selection walks the pool in least-margin order and skips near-duplicates and full documents; it only
# ever reaches far past `k` rows when most of them are skipped. Handing it the `CANDIDATES_PER_PICK * k`
# least-margin rows (at least `MIN_CANDIDATES`) gives the same picks without featurizing the whole pool.
CANDIDATES_PER_PICK = 20
MIN_CANDIDATES = 100


class CachedScorer:
    """A scorer that answers `predict_proba` from known scores by text and defers everything else."""

    def __init__(self, scorer, known: dict[str, list[float]]):
        self._scorer = scorer
        self._known = known

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities of `texts` (label order), scoring only those not known."""
        missing = [text for text in dict.fromkeys(texts) if text not in self._known]
        if missing:
            for text, row in zip(missing, self._scorer.predict_proba(missing).tolist(), strict=True):
                self._known[text] = row
        return np.array([self._known[text] for text in texts], dtype=float).reshape(len(texts), -1)

    def __getattr__(self, name):
        return getattr(self._scorer, name)


def cached_predictor(
    predictor: Predictor, queue: QueueStore, language: str | None = None
) -> tuple[Predictor, list[dict]]:
    """A predictor answering from the queue's score cache, and the pending rows (id, text, document_id),
    only those in `language` when it is given.

    Pending items scored by another version (or never) are scored now, in one batch, and cached.
    """
    pending = queue.pending_scores(language)
    n_labels = len(predictor.labels)
    known, stale = {}, []
    for row in pending:
        scores = row["scores"]
        if row["scored_version"] == predictor.version and scores is not None and len(scores) == n_labels:
            known[row["text"]] = scores
        else:
            stale.append(row)
    if stale:
        fresh = predictor.scorer.predict_proba([row["text"] for row in stale]).tolist()
        queue.cache_scores(predictor.version, {row["id"]: scores for row, scores in zip(stale, fresh, strict=True)})
        for row, scores in zip(stale, fresh, strict=True):
            known[row["text"]] = scores
    proxy = Predictor(CachedScorer(predictor.scorer, known), predictor.manifest, predictor.version_dir)
    rows = [{"id": row["id"], "text": row["text"], "document_id": row["document_id"]} for row in pending]
    return proxy, rows


def candidates(proxy: Predictor, rows: list[dict], k: int) -> list[dict]:
    """The least-margin rows selection can need for `k` picks (all rows of a small pool), in pool order."""
    keep = max(MIN_CANDIDATES, CANDIDATES_PER_PICK * k)
    if len(rows) <= keep:
        return rows
    probabilities = proxy.scorer.predict_proba([row["text"] for row in rows])
    margins, _ = threshold_margins(probabilities, proxy.scorer.thresholds)
    chosen = np.sort(np.argsort(margins, kind="stable")[:keep])
    return [rows[i] for i in chosen.tolist()]


def next_items(
    predictor: Predictor, queue: QueueStore, limit: int, language: str | None = None
) -> tuple[list[dict], str]:
    """The `limit` pending items most worth labelling (in `language`, when given), ranked by the selection
    default, and its name.

    Each row has the selection's fields (`scores`, `margin`, `nearest_label`, `rank`, ...) plus
    `labels` and `evidence` (terms of each flagged label).
    """
    proxy, rows = cached_predictor(predictor, queue, language)
    if not rows:
        return [], DEFAULT_STRATEGY
    ranked = select(proxy, candidates(proxy, rows, limit), limit, strategy=DEFAULT_STRATEGY)
    scored = proxy.predict_texts([row["text"] for row in ranked], evidence_top_k=EVIDENCE_TERMS)
    return [{**row, **result} for row, result in zip(ranked, scored, strict=True)], DEFAULT_STRATEGY
