"""Training: data loading, grouped splits, thresholds, training and evaluation, selection, the promotion gate,
and retraining from feedback.

The names below are the package's public API, what the service imports; everything else is internal.
"""

from training.agreement import agreement
from training.data import load_dataset
from training.defaults import train_default_model
from training.feedback import load_passages, resolved_view
from training.label_issues import screen
from training.reference import bin_shares
from training.retrain import RetrainOutcome, RetrainReport, RetrainSettings, run_retrain
from training.select import DEFAULT_STRATEGY, select, threshold_margins

__all__ = [
    "DEFAULT_STRATEGY",
    "RetrainOutcome",
    "RetrainReport",
    "RetrainSettings",
    "agreement",
    "bin_shares",
    "load_dataset",
    "load_passages",
    "resolved_view",
    "run_retrain",
    "screen",
    "select",
    "threshold_margins",
    "train_default_model",
]
