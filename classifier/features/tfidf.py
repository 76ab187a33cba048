"""TF-IDF rows of a batch of texts: counts weighted by sublinear tf and idf, rows L2-normalised."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from classifier.features.counting import count_features
from classifier.features.space import FeatureSpace


def featurize(texts: list[str], space: FeatureSpace) -> csr_matrix:
    """TF-IDF feature rows of `texts` (sublinear tf, smooth idf, L2-normalised rows) as a CSR matrix."""
    indptr, indices, counts = count_features(texts, space)
    values = (1.0 + np.log(counts)) * space.idf[indices]
    row_of = np.repeat(np.arange(len(texts)), np.diff(indptr))
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
    values /= norms[row_of]
    # int32 indices when they fit, as scipy would pick: given int64 ones it scans them to find out, which
    # costs as much as the rest of featurising a single passage.
    index = np.int32 if max(space.n_features, len(indices)) < np.iinfo(np.int32).max else np.int64
    return csr_matrix(
        (values, indices.astype(index, copy=False), indptr.astype(index, copy=False)),
        shape=(len(texts), space.n_features),
    )
