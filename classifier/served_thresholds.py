"""Which thresholds a passage is decided with: the one rule, for serving and for training's figures.

A version's manifest may hold thresholds of a language's own (``thresholds_by_language``, chosen by
`training.languages`) and of a source's own (``thresholds_by_source``, `training.sources`). A passage in
language L from source S is decided, label by label, with S's own threshold, else L's, else the global one.
`classifier.predictor.Predictor` serves with `threshold_map`; training judges and reports with
`threshold_matrix`, so what the gate and the reports measure is what is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Thresholds = Mapping[str, float]


def threshold_map(
    global_map: Thresholds,
    by_language: Mapping[str, Thresholds],
    by_source: Mapping[str, Thresholds],
    language: str | None,
    source: str | None,
) -> dict[str, float]:
    """label -> threshold of a passage in `language` from `source`: the source's own, else the language's,
    else the global one (labels `global_map` does not name are ignored)."""
    merged = {label: float(t) for label, t in global_map.items()}
    for own in (by_language.get(language) if language is not None else None,
                by_source.get(source) if source is not None else None):  # fmt: skip
        for label, threshold in (own or {}).items():
            if label in merged:
                merged[label] = float(threshold)
    return merged


def threshold_matrix(
    labels: Sequence[str],
    global_thresholds: Sequence[float] | np.ndarray,
    by_language: Mapping[str, Thresholds],
    by_source: Mapping[str, Thresholds],
    langs: Sequence | np.ndarray,
    sources: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """The (n_rows, n_labels) thresholds each row is decided with (`threshold_map` of its language and
    source), computed once per distinct (language, source) pair."""
    global_map = dict(zip(labels, (float(t) for t in global_thresholds), strict=True))
    langs = list(langs.tolist() if isinstance(langs, np.ndarray) else langs)
    if sources is None:
        sources = [None] * len(langs)
    else:
        sources = list(sources.tolist() if isinstance(sources, np.ndarray) else sources)
    rows: dict[tuple, np.ndarray] = {}
    matrix = np.empty((len(langs), len(labels)), dtype=float)
    for i, key in enumerate(zip(langs, sources, strict=True)):
        row = rows.get(key)
        if row is None:
            chosen = threshold_map(global_map, by_language, by_source, *key)
            row = rows[key] = np.array([chosen[label] for label in labels], dtype=float)
        matrix[i] = row
    return matrix
