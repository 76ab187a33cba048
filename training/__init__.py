"""Training: data loading, grouped splits, thresholds, training and evaluation, selection, the promotion gate."""
