"""Old import path of the feature code, kept so models pickled before the split still load.

The `model.joblib` of the bundled default model names ``classifier.featurize.FeatureSpace``; new code
imports from `classifier.features`. Remove this module once no kept model was pickled before the split.
"""

from __future__ import annotations

from classifier.features import FeatureSpace, featurize, fit_feature_space

__all__ = ["FeatureSpace", "featurize", "fit_feature_space"]
