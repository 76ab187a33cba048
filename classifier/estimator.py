"""The multi-label alert model as a scikit-learn estimator: TF-IDF n-grams into one-vs-rest LR."""

from __future__ import annotations

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from classifier.features.transformer import NgramTfidf


class AlertClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label text classifier: every label gets its own probability and decision threshold.

    `fit(texts, Y, labels=...)` takes a 0/1 indicator matrix `Y` of shape (n_texts, n_labels).
    Learned: `pipeline_` (NgramTfidf -> OneVsRestClassifier(LogisticRegression)), `labels_`,
    `thresholds_` (0.5 until training tunes them with `set_thresholds`), `hard_negatives_` (per label, how
    many rows were weighed as hard negatives; all 0 when that is off).

    Hard negatives (`hard_negative_weight` w != 1): each label's logistic regression is fit twice. The
    first fit gives out-of-fold probabilities (`hard_negative_folds` stratified folds over the training
    rows, on the features learned from all of them); a row without the label that its out-of-fold model
    scores at or above `hard_negative_cutoff` for it is a hard negative of that label, and the second fit
    weighs it w times (on top of its `sample_weight`) in that label's loss alone. Such rows are the ones a
    word of the label's vocabulary pulls up although the annotators said no (another sense of the word,
    figurative use); weighing them lets the words around it count against the word itself.
    """

    # Defaults for versions pickled before these options existed (their __dict__ lacks them; get_params reads them)
    char_weight = 1.0
    char_distinct = False
    char_backoff_min_df = 0
    hard_negative_weight = 1.0
    hard_negative_folds = 3
    hard_negative_cutoff = 0.5

    def __init__(
        self,
        word_ngram_range=(1, 2),
        char_ngram_range=(2, 5),
        min_df=2,
        max_df=1.0,
        char_features=1500,
        word_features=None,
        C=10.0,
        class_weight="balanced",
        max_iter=3000,
        char_weight=1.0,
        char_distinct=False,
        char_backoff_min_df=0,
        hard_negative_weight=1.0,
        hard_negative_folds=3,
        hard_negative_cutoff=0.5,
    ):
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_features = char_features
        self.word_features = word_features
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.char_weight = char_weight
        self.char_distinct = char_distinct
        self.char_backoff_min_df = char_backoff_min_df
        self.hard_negative_weight = hard_negative_weight
        self.hard_negative_folds = hard_negative_folds
        self.hard_negative_cutoff = hard_negative_cutoff

    def _make_pipeline(self) -> Pipeline:
        features = NgramTfidf(
            word_ngram_range=self.word_ngram_range,
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_df=self.max_df,
            char_features=self.char_features,
            word_features=self.word_features,
            char_weight=self.char_weight,
            char_distinct=self.char_distinct,
            char_backoff_min_df=self.char_backoff_min_df,
        )
        linear = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, solver="liblinear", random_state=0
        )
        return Pipeline([("features", features), ("clf", OneVsRestClassifier(linear))])

    def fit(self, X, Y, labels=None, sample_weight=None):
        """Fit on texts `X` and indicator matrix `Y`; `labels` names the columns of `Y`.

        `sample_weight` (one positive number per text, default all 1) weighs each text in every label's
        logistic loss and in the balanced class weights, as scikit-learn's estimators do: an integer
        weight w gives the coefficients of the text repeated w times on the same features. The TF-IDF
        vocabulary and document frequencies are learned from the texts unweighted (each text once).
        """
        Y = np.asarray(Y, dtype=int)
        if Y.ndim != 2:
            raise ValueError("Y must be a 2-D indicator matrix (n_texts, n_labels)")
        self.labels_ = list(labels) if labels is not None else [str(i) for i in range(Y.shape[1])]
        if len(self.labels_) != Y.shape[1]:
            raise ValueError(f"{len(self.labels_)} label names for {Y.shape[1]} columns of Y")
        pipeline = self._make_pipeline()
        if sample_weight is None:
            self.pipeline_ = pipeline.fit(list(X), Y)
        else:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.shape != (Y.shape[0],) or not np.all(np.isfinite(sample_weight) & (sample_weight > 0)):
                raise ValueError(f"sample_weight must hold {Y.shape[0]} positive finite numbers, one per text")
            # OneVsRestClassifier passes fit parameters on only through metadata routing (scikit-learn >= 1.4):
            # enabled here, for this fit alone, with the logistic regression asking for the weights.
            with config_context(enable_metadata_routing=True):
                pipeline.named_steps["clf"].estimator.set_fit_request(sample_weight=True)
                self.pipeline_ = pipeline.fit(list(X), Y, sample_weight=sample_weight)
        self.hard_negatives_ = [0] * Y.shape[1]
        if self.hard_negative_weight != 1.0:
            self._refit_hard_negatives(list(X), Y, sample_weight)
        self.thresholds_ = np.full(Y.shape[1], 0.5)
        return self

    def _refit_hard_negatives(self, X: list[str], Y: np.ndarray, sample_weight) -> None:
        """Refit each label's regression with its hard negatives weighed `hard_negative_weight` times."""
        w = float(self.hard_negative_weight)
        if not (np.isfinite(w) and w > 0):
            raise ValueError(f"hard_negative_weight must be a positive number, got {self.hard_negative_weight!r}")
        if not 0.0 < float(self.hard_negative_cutoff) < 1.0:
            raise ValueError(f"hard_negative_cutoff must be in (0, 1), got {self.hard_negative_cutoff!r}")
        M = self.pipeline_.named_steps["features"].transform(X)
        base = np.ones(len(X)) if sample_weight is None else sample_weight
        for j, est in enumerate(self.pipeline_.named_steps["clf"].estimators_):
            y = Y[:, j]
            if not hasattr(est, "coef_") or min(y.sum(), (1 - y).sum()) < self.hard_negative_folds:
                continue  # a constant label, or too few rows of a class to fold
            folds = StratifiedKFold(n_splits=self.hard_negative_folds, shuffle=True, random_state=0)
            oof = np.zeros(len(y))
            for train, test in folds.split(M, y):
                fold_model = clone(est).fit(M[train], y[train], sample_weight=base[train])
                oof[test] = fold_model.predict_proba(M[test])[:, 1]
            hard = (y == 0) & (oof >= self.hard_negative_cutoff)
            self.hard_negatives_[j] = int(hard.sum())
            est.fit(M, y, sample_weight=base * np.where(hard, w, 1.0))

    def predict_proba(self, X) -> np.ndarray:
        """Probability of every label for every text, shape (n_texts, n_labels)."""
        return self.pipeline_.predict_proba(list(X))

    def predict(self, X) -> np.ndarray:
        """0/1 indicator matrix: each label's probability at or above its threshold."""
        return (self.predict_proba(X) >= self.thresholds_).astype(int)

    def set_thresholds(self, thresholds) -> AlertClassifier:
        """Set the per-label decision thresholds (one per label, each in (0, 1))."""
        thresholds = np.asarray(thresholds, dtype=float)
        if thresholds.shape != (len(self.labels_),) or not np.all((thresholds > 0) & (thresholds < 1)):
            raise ValueError(f"need {len(self.labels_)} thresholds in (0, 1), got {thresholds!r}")
        self.thresholds_ = thresholds
        return self

    def linear_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (n_features, n_labels) and intercepts (n_labels,) of the fitted model."""
        estimators = self.pipeline_.named_steps["clf"].estimators_
        n_features = self.pipeline_.named_steps["features"].space_.n_features
        coef = np.zeros((n_features, len(estimators)))
        intercept = np.zeros(len(estimators))
        for j, est in enumerate(estimators):
            if hasattr(est, "coef_"):
                coef[:, j] = est.coef_.ravel()
                intercept[j] = est.intercept_[0]
            else:  # a label constant in the training data: OneVsRest keeps a constant predictor
                p = float(np.clip(np.ravel(est.y_)[0], 1e-6, 1 - 1e-6))
                intercept[j] = np.log(p / (1 - p))
        return coef, intercept
