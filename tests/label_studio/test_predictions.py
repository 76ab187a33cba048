"""The prediction format and the least-certain-first score."""

from __future__ import annotations

import pytest

from service.label_studio.labelling_config import parse_label_config
from service.label_studio.predictions import certainty, chosen, task_score, to_prediction
from tests.label_studio.conftest import LABELS, MULTI_CONFIG, SABOTAGE_ONLY_CONFIG, SINGLE_CONFIG

THRESHOLDS = {"hybrid_threat_warning": 0.4, "sabotage_mention": 0.25, "support_statement": 0.5}


@pytest.mark.parametrize(
    ("score", "threshold", "expected"),
    [
        (0.4, 0.4, 0.0),  # on the threshold: as unsure as it gets
        (1.0, 0.4, 1.0),
        (0.0, 0.4, 1.0),
        (0.7, 0.4, 0.5),  # half-way from the threshold up to 1
        (0.2, 0.4, 0.5),  # half-way from the threshold down to 0
        (0.3, 0.0, 0.3),  # a threshold of 0: everything fires
        (1.0, 1.0, 1.0),  # a threshold of 1 reached: no room above, no division by zero
        (0.9, 1.0, 0.1),
    ],
)
def test_certainty(score, threshold, expected):
    assert certainty(score, threshold) == pytest.approx(expected)


def test_task_score_is_the_least_certain_offered_label():
    scores = {"hybrid_threat_warning": 0.7, "sabotage_mention": 0.2, "support_statement": 0.05}
    # certainties: 0.5, (0.25 - 0.2) / 0.25 = 0.2, (0.5 - 0.05) / 0.5 = 0.9
    assert task_score(scores, THRESHOLDS, LABELS) == 0.2
    assert task_score(scores, THRESHOLDS, ("hybrid_threat_warning", "support_statement")) == 0.5


def test_prediction_of_a_multiple_choice_control():
    target = parse_label_config(MULTI_CONFIG, LABELS)
    result = {
        "labels": ["hybrid_threat_warning", "sabotage_mention"],
        "scores": {"hybrid_threat_warning": 0.7, "sabotage_mention": 0.9, "support_statement": 0.05},
    }
    assert to_prediction(result, target, THRESHOLDS, "v1") == {
        "result": [
            {
                "from_name": "labels",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": ["hybrid_threat_warning", "sabotage_mention"]},
            }
        ],
        "score": 0.5,
        "model_version": "v1",
    }


def test_single_choice_control_gets_the_highest_fired_label():
    target = parse_label_config(SINGLE_CONFIG, LABELS)
    result = {
        "labels": ["hybrid_threat_warning", "sabotage_mention"],
        "scores": {"hybrid_threat_warning": 0.7, "sabotage_mention": 0.9, "support_statement": 0.05},
    }
    assert chosen(result, target) == ["sabotage_mention"]
    assert to_prediction(result, target, THRESHOLDS, "v1")["result"] == [
        {"from_name": "label", "to_name": "body", "type": "choices", "value": {"choices": ["sabotage_mention"]}}
    ]


def test_nothing_fired_gives_an_empty_result_and_a_subset_scores_its_labels_only():
    target = parse_label_config(SABOTAGE_ONLY_CONFIG, LABELS)
    result = {
        "labels": ["support_statement"],
        "scores": {"hybrid_threat_warning": 0.41, "sabotage_mention": 0.05, "support_statement": 0.99},
    }
    assert to_prediction(result, target, THRESHOLDS, "v2") == {"result": [], "score": 0.8, "model_version": "v2"}


def test_a_task_the_model_cannot_read_sorts_first_with_nothing_chosen():
    target = parse_label_config(MULTI_CONFIG, LABELS)
    reason = "not scored: passages in ru, which this model was not trained on"
    result = {  # a Russian task: every alert unknown, no score
        "labels": [],
        "scores": dict.fromkeys(LABELS),
        "alerts": {label: {"alert": None, "max_score": None, "threshold": 0.5, "reason": reason} for label in LABELS},
    }
    assert to_prediction(result, target, THRESHOLDS, "v1") == {"result": [], "score": 0.0, "model_version": "v1"}


def test_alerts_give_the_thresholds_a_task_was_decided_with():
    target = parse_label_config(SABOTAGE_ONLY_CONFIG, LABELS)
    result = {  # a German task: its language's own threshold (0.2), not the global 0.25
        "labels": ["sabotage_mention"],
        "scores": {"hybrid_threat_warning": 0.1, "sabotage_mention": 0.6, "support_statement": 0.1},
        "alerts": {
            "hybrid_threat_warning": {"alert": False, "max_score": 0.1, "threshold": 0.4},
            "sabotage_mention": {"alert": True, "max_score": 0.6, "threshold": 0.2},
            "support_statement": {"alert": False, "max_score": 0.1, "threshold": 0.5},
        },
    }
    assert to_prediction(result, target, THRESHOLDS, "v1")["score"] == 0.5  # (0.6 - 0.2) / 0.8
