"""Training: data loading, grouped splits, thresholds, training and evaluation, selection, the promotion gate,
and retraining from feedback.

The names below are the package's public API, what the service imports; everything else is internal.
"""

from training.defaults import train_default_model
from training.retrain import RetrainOutcome, RetrainReport, RetrainSettings, run_retrain
from training.select import DEFAULT_STRATEGY, select, threshold_margins

__all__ = [
    "DEFAULT_STRATEGY",
    "RetrainOutcome",
    "RetrainReport",
    "RetrainSettings",
    "run_retrain",
    "select",
    "threshold_margins",
    "train_default_model",
]
