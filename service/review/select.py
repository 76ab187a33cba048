"""Ranking passages worth labelling: least margin to a label's threshold, a few per document at most.

The interface is the one of `training.select.select` (rows in, the top `k` rows out, ranked, each with
its input fields plus `scores` and `rank`), so the review queue can use either.
"""

from __future__ import annotations

import random

import numpy as np

STRATEGIES = ("least_margin", "random")
DEFAULT_STRATEGY = "least_margin"
# Most picks from one document while other documents still have candidates: the queue should not
# show an analyst ten sentences of the same article in a row.
PER_DOCUMENT = 2


def margins(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Each row's smallest distance between a label's probability and that label's threshold."""
    return np.abs(probabilities - thresholds[None, :]).min(axis=1)


def select(predictor, rows: list[dict], k: int, strategy: str = DEFAULT_STRATEGY, seed: int = 0) -> list[dict]:
    """The `k` rows most worth labelling, best first: each row's fields plus `scores` (label -> p) and
    `rank` (1 = first).

    ``least_margin`` orders by the smallest distance of any label's score to its threshold (the model
    is least sure there), keeping at most `PER_DOCUMENT` rows of one ``document_id`` until every
    document's share is used; ``random`` is a seeded shuffle (the baseline).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    if k <= 0 or not rows:
        return []
    labels = list(predictor.labels)
    probabilities = np.asarray(predictor.scorer.predict_proba([row["text"] for row in rows]), dtype=float)
    if strategy == "random":
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        picked = order[:k]
    else:
        thresholds = np.array([predictor.thresholds[label] for label in labels])
        order = np.argsort(margins(probabilities, thresholds), kind="stable").tolist()
        picked = _capped(order, rows, k)
    return [
        {**rows[i], "scores": dict(zip(labels, probabilities[i].tolist(), strict=True)), "rank": rank}
        for rank, i in enumerate(picked, start=1)
    ]


def _capped(order: list[int], rows: list[dict], k: int) -> list[int]:
    """The first `k` of `order` with at most `PER_DOCUMENT` per document, then the rest in order if short."""
    taken: list[int] = []
    per_document: dict[object, int] = {}
    held_back: list[int] = []
    for i in order:
        document = rows[i].get("document_id")
        if document is not None and per_document.get(document, 0) >= PER_DOCUMENT:
            held_back.append(i)
            continue
        if document is not None:
            per_document[document] = per_document.get(document, 0) + 1
        taken.append(i)
        if len(taken) == k:
            return taken
    return taken + held_back[: k - len(taken)]
