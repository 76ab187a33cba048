"""Which passages are most worth labelling: rank a pool of unlabelled rows for review.

`select(predictor, rows, k, strategy)` scores every row with the model and returns the `k` picks in
rank order, each row with all its input fields plus the model's view of it:

- ``scores``: label -> probability; ``model_labels``: the labels the model flags (at its thresholds);
- ``margin``: the distance, in logit units, from the row's score to the nearest label threshold
  (0 = exactly on a threshold: the model cannot tell); ``nearest_label``: that label;
- ``rank`` (1 = first to review) and ``strategy``.

Strategies:

- ``random``: a seeded random sample (the baseline);
- ``margin``: least margin first (uncertainty sampling around the thresholds that decide alerts);
- ``diverse``: least margin first, skipping a row whose TF-IDF cosine to a row already picked is at
  least `NEAR_DUPLICATE_COSINE` and taking at most `MAX_PER_DOCUMENT` rows of one document; when the
  pool runs out of such rows, the skipped ones fill the remaining places in margin order.

Margins are measured in logit units because thresholds differ per label (0.3 for one, 0.6 for another):
``|logit(p) - logit(t)|`` is comparable across labels where ``|p - t|`` is not.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from classifier.features import featurize

STRATEGIES = ("random", "margin", "diverse")
# The best mean of `bench/adaptation.py` at k = 50, 100 and 200 (0.561 vs random 0.553 at 200; docs/adaptation.md).
DEFAULT_STRATEGY = "diverse"
NEAR_DUPLICATE_COSINE = 0.8
MAX_PER_DOCUMENT = 3
SCORE_DECIMALS = 6
# Field names the document of a row may be given under, in order of preference.
DOCUMENT_FIELDS = ("document_id", "doc", "group")
_EPS = 1e-6


def document_key(row: dict, index: int) -> str:
    """The document a row belongs to (its `document_id`, `doc` or `group`), or a key of its own."""
    for name in DOCUMENT_FIELDS:
        value = row.get(name)
        if value not in (None, ""):
            return f"{name}:{value}"
    return f"row:{index}"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def threshold_margins(probabilities: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the smallest logit distance to a label's threshold, and the index of that label."""
    distance = np.abs(_logit(probabilities) - _logit(np.asarray(thresholds, dtype=float)))
    nearest = distance.argmin(axis=1)
    return distance[np.arange(len(distance)), nearest], nearest


def _random_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def _margin_order(margins: np.ndarray) -> np.ndarray:
    return np.argsort(margins, kind="stable")  # ties keep input order: the ranking is deterministic


def _diverse_order(
    margins: np.ndarray,
    features,
    documents: list[str],
    k: int,
    near_duplicate: float,
    max_per_document: int,
) -> np.ndarray:
    """Greedy: least margin first, skipping near-duplicates of picked rows and full documents."""
    order = _margin_order(margins)
    picked: list[int] = []
    skipped: list[int] = []
    per_document: Counter[str] = Counter()
    # Closest cosine of each row to any picked row, updated once per pick (one sparse product).
    closest = np.zeros(len(margins))
    for i in order.tolist():
        if len(picked) == k:
            break
        if closest[i] >= near_duplicate or per_document[documents[i]] >= max_per_document:
            skipped.append(i)
            continue
        picked.append(i)
        per_document[documents[i]] += 1
        closest = np.maximum(closest, (features @ features[i].T).toarray().ravel())
    if len(picked) < k:
        picked.extend(skipped[: k - len(picked)])
    return np.array(picked, dtype=int)


def rank_rows(
    probabilities: np.ndarray,
    thresholds,
    k: int,
    strategy: str = DEFAULT_STRATEGY,
    *,
    seed: int = 0,
    features=None,
    documents: list[str] | None = None,
    near_duplicate: float = NEAR_DUPLICATE_COSINE,
    max_per_document: int = MAX_PER_DOCUMENT,
) -> np.ndarray:
    """Indices of the `k` rows to review first (fewer if the pool is smaller), best first.

    `features` (L2-normalised rows, e.g. TF-IDF) and `documents` (one key per row) are needed by the
    ``diverse`` strategy only.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; strategies are {', '.join(STRATEGIES)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n = len(probabilities)
    if strategy == "random":
        return _random_order(n, seed)[:k]
    margins, _ = threshold_margins(probabilities, np.asarray(thresholds))
    if strategy == "margin":
        return _margin_order(margins)[:k]
    if features is None or documents is None:
        raise ValueError("the diverse strategy needs the rows' features and documents")
    return _diverse_order(margins, features, documents, min(k, n), near_duplicate, max_per_document)


def select(
    predictor,
    rows: list[dict],
    k: int,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
    *,
    text_field: str = "text",
    near_duplicate: float = NEAR_DUPLICATE_COSINE,
    max_per_document: int = MAX_PER_DOCUMENT,
) -> list[dict]:
    """The `k` rows of `rows` most worth labelling, ranked, each with the model's view of it added.

    `predictor` is a `classifier.predictor.Predictor` (any object with a `scorer` holding
    `predict_proba`, `thresholds`, `labels` and the feature `space` works). Every row needs a non-empty
    string `text_field`. Each returned row is a new dict: the input fields, then ``scores``,
    ``model_labels``, ``margin``, ``nearest_label``, ``rank`` and ``strategy`` (these replace input
    fields of the same names). Raises ValueError for an unknown strategy or k < 1.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; strategies are {', '.join(STRATEGIES)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not rows:
        return []
    scorer = predictor.scorer
    texts = [row[text_field] for row in rows]
    probabilities = scorer.predict_proba(texts)
    features = featurize(texts, scorer.space) if strategy == "diverse" else None
    documents = [document_key(row, i) for i, row in enumerate(rows)]
    chosen = rank_rows(
        probabilities,
        scorer.thresholds,
        k,
        strategy,
        seed=seed,
        features=features,
        documents=documents,
        near_duplicate=near_duplicate,
        max_per_document=max_per_document,
    )
    margins, nearest = threshold_margins(probabilities[chosen], scorer.thresholds)
    labels = list(scorer.labels)
    decided = scorer.decide(probabilities[chosen])
    picks = []
    for rank, (i, margin, near, flags) in enumerate(zip(chosen.tolist(), margins, nearest, decided, strict=True), 1):
        picks.append(
            {
                **rows[i],
                "scores": dict(zip(labels, np.round(probabilities[i], SCORE_DECIMALS).tolist(), strict=True)),
                "model_labels": [label for label, on in zip(labels, flags, strict=True) if on],
                "margin": round(float(margin), 4),
                "nearest_label": labels[int(near)],
                "rank": rank,
                "strategy": strategy,
            }
        )
    return picks
