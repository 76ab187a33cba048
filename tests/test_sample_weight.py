"""Per-row sample weights in `AlertClassifier.fit` and in training (small fits, no corpus-size training)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from classifier.estimator import AlertClassifier
from training.train import train_model

LABELS = ["threat", "support"]
TEXTS = [
    "The ministry warned of a hybrid campaign of disinformation against the election.",
    "Officials described cyber attacks and disinformation as hybrid threats to the state.",
    "A hybrid attack on the power grid was reported by the security service.",
    "Hybrid warfare combines sabotage, propaganda and pressure on energy supplies.",
    "We stand with our partners and will support their defence for as long as it takes.",
    "The council reaffirmed its full support for the country's sovereignty.",
    "Leaders pledged further military and financial support to the government.",
    "Hybrid cars now make up a third of new sales in the country.",
    "The hybrid car market grew again this spring.",
    "The weather was mild and the harvest came in early this year.",
    "The museum opened a new wing for modern art on Sunday.",
    "Train services resumed after the storm passed.",
]
Y = np.array([[1, 0]] * 4 + [[0, 1]] * 3 + [[0, 0]] * 5)
CARS = [7, 8]


def small_model() -> AlertClassifier:
    return AlertClassifier(min_df=1, char_features=300)


def test_weight_one_reproduces_the_unweighted_fit_exactly():
    plain = small_model().fit(TEXTS, Y, labels=LABELS)
    ones = small_model().fit(TEXTS, Y, labels=LABELS, sample_weight=np.ones(len(TEXTS)))
    for a, b in zip(plain.linear_parts(), ones.linear_parts(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.predict_proba(TEXTS), ones.predict_proba(TEXTS))


def test_integer_weights_give_the_coefficients_of_repeated_rows_on_the_same_features():
    weights = np.ones(len(TEXTS))
    weights[CARS] = 3
    model = small_model().fit(TEXTS, Y, labels=LABELS, sample_weight=weights)
    coef, intercept = model.linear_parts()
    features = model.pipeline_.named_steps["features"].transform(TEXTS)
    repeated = np.repeat(np.arange(len(TEXTS)), weights.astype(int))
    for j in range(len(LABELS)):
        plain = LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000, solver="liblinear", random_state=0)
        plain.fit(features[repeated], Y[repeated, j])
        np.testing.assert_allclose(coef[:, j], plain.coef_.ravel(), atol=2e-4)
        assert intercept[j] == pytest.approx(plain.intercept_[0], abs=2e-4)


def test_a_heavier_correction_pulls_its_label_score_further_down():
    scores = []
    for weight in (1.0, 2.5, 10.0):
        weights = np.ones(len(TEXTS))
        weights[CARS] = weight
        model = small_model().fit(TEXTS, Y, labels=LABELS, sample_weight=weights)
        scores.append(model.predict_proba(["Hybrid cars sold well in the first quarter."])[0, 0])
    assert scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize(
    "weights", [np.ones(3), np.r_[np.ones(11), 0.0], np.r_[np.ones(11), -1.0], np.r_[np.ones(11), np.nan]]
)
def test_bad_sample_weights_are_refused(weights):
    with pytest.raises(ValueError) as info:
        small_model().fit(TEXTS, Y, labels=LABELS, sample_weight=weights)
    assert str(info.value) == "sample_weight must hold 12 positive finite numbers, one per text"


@pytest.mark.parametrize("weight", [0, -2.0, float("inf"), True, "3"])
def test_train_model_refuses_a_weight_that_is_not_a_positive_number(weight, tmp_path):
    with pytest.raises(ValueError) as info:
        train_model(tmp_path / "missing.jsonl", models_dir=tmp_path / "models", extra_weight=weight, progress=None)
    assert str(info.value) == f"extra_weight must be a positive number, got {weight!r}"
