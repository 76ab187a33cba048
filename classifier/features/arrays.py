"""Two numpy index helpers the feature code shares: sorted search and range expansion."""

from __future__ import annotations

import numpy as np

EMPTY = np.zeros(0, dtype=np.int64)


def sorted_positions(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query, the index in non-empty `sorted_keys` where it is or would be (0 past the end).

    Searching in sorted order is about twice as fast as in random order (the searches stay in cache).
    """
    order = np.argsort(queries)
    pos = np.empty(len(queries), dtype=np.int64)
    pos[order] = np.searchsorted(sorted_keys, queries[order])
    pos[pos >= len(sorted_keys)] = 0
    return pos


def expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lengths[i] - 1`` for every i, concatenated."""
    total = int(lengths.sum())
    out_start = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(out_start - starts, lengths)
