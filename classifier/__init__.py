"""The model library: segmentation, features, the estimator and scorer, verified artifacts, batch scoring, CLIs."""
