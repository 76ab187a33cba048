"""Behavioural tests of the shipped default model (the one users get).

Minimum functionality (clear one-line cases), invariance (names, places, dates swapped) and direction
(adding a sabotage sentence raises the sabotage score).
"""

from __future__ import annotations

import pytest

from tests.data.other_senses import OTHER_SENSES, PLAIN_SENSES, alert_counts

pytestmark = pytest.mark.behavior

CLEAR_CASES = [
    ("We stand with Ukraine and will continue to provide military and humanitarian aid.", ["support_statement"]),
    ("Russia is waging a disinformation campaign to interfere in the elections.", ["hybrid_threat_warning"]),
    ("Saboteurs cut the undersea cable and set fire to a rail depot.", ["sabotage_mention"]),
    ("The meeting will take place on Tuesday in Geneva.", []),
    ("The weather in Geneva was sunny on Tuesday.", []),
]

# (original, the same with names, places and dates swapped, the labels both must get)
SWAPS = [
    (
        "On March 3, President Niinistö of Finland warned that Russia is waging a hybrid campaign of "
        "disinformation against Finland.",
        "On July 9, Prime Minister Støre of Norway warned that Russia is waging a hybrid campaign of "
        "disinformation against Norway.",
        ["hybrid_threat_warning"],
    ),
    (
        "Finland will continue to support Ukraine with weapons and humanitarian aid, President Niinistö said on "
        "March 3.",
        "Norway will continue to support Ukraine with weapons and humanitarian aid, Prime Minister Støre said on "
        "July 9.",
        ["support_statement"],
    ),
    (
        "On 12 May, police in Poland arrested two men suspected of sabotage against the railway network.",
        "On 4 October, police in Germany arrested two men suspected of sabotage against the railway network.",
        ["sabotage_mention"],
    ),
    ("The meeting will take place on Tuesday in Geneva.", "The meeting will take place on Friday in Vienna.", []),
]
SCORE_TOLERANCE = 0.1


@pytest.mark.parametrize(("text", "labels"), CLEAR_CASES)
def test_clear_one_line_cases(shipped_predictor, text, labels):
    (result,) = shipped_predictor.predict_texts([text])
    assert result["labels"] == labels, result["scores"]
    for label, score in result["scores"].items():
        if label in labels:
            assert score >= 0.9, (label, score)
        else:
            assert score < 0.1, (label, score)


@pytest.mark.parametrize(("original", "swapped", "labels"), SWAPS)
def test_names_places_and_dates_swapped_keep_the_labels(shipped_predictor, original, swapped, labels):
    a, b = shipped_predictor.predict_texts([original, swapped])
    assert a["labels"] == b["labels"] == labels
    for label in shipped_predictor.labels:
        assert abs(a["scores"][label] - b["scores"][label]) < SCORE_TOLERANCE, (label, a["scores"], b["scores"])


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Geneva was sunny on Tuesday.",
        "The President met the Prime Minister of Italy to discuss trade.",
        "Russia is waging a disinformation campaign to interfere in the elections.",
    ],
)
def test_adding_a_sabotage_sentence_raises_the_sabotage_score(shipped_predictor, text):
    before, after = shipped_predictor.predict_texts([text, text + " Saboteurs cut the undersea cable."])
    assert after["scores"]["sabotage_mention"] > before["scores"]["sabotage_mention"] + 0.3
    assert "sabotage_mention" in after["labels"]


def test_sabotage_evidence_points_at_the_saboteurs(shipped_predictor):
    (result,) = shipped_predictor.predict_texts(["Saboteurs cut the undersea cable."], evidence_top_k=3)
    assert result["labels"] == ["sabotage_mention"]
    assert result["evidence"]["sabotage_mention"][0]["term"] == "saboteurs"


DOCUMENT = (
    "Security update\n"
    "\n"
    "Russia is waging a disinformation campaign to interfere in the elections. "
    "The meeting will take place on Tuesday in Geneva.\n"
    "\n"
    "- Saboteurs cut the undersea cable and set fire to a rail depot.\n"
    "- We stand with Ukraine and will continue to provide military and humanitarian aid.\n"
)


def test_document_passages_and_alerts(shipped_predictor):
    (result,) = shipped_predictor.predict_documents([DOCUMENT], passages="always", evidence_top_k=2)
    passages = result["passages"]
    assert [(p["index"], p["start"], p["end"], p["kind"], p["labels"]) for p in passages] == [
        (0, 0, 15, "heading", []),
        (1, 17, 90, "sentence", ["hybrid_threat_warning"]),
        (2, 91, 140, "sentence", []),
        (3, 142, 206, "bullet", ["sabotage_mention"]),
        (4, 207, 290, "bullet", ["support_statement"]),
    ]
    for p in passages:
        assert DOCUMENT[p["start"] : p["end"]] == p["text"]
        assert set(p["evidence"]) == set(p["labels"])
    assert passages[3]["evidence"]["sabotage_mention"][0]["term"] == "saboteurs"
    assert result["labels"] == ["hybrid_threat_warning", "sabotage_mention", "support_statement"]
    assert {label: alert["passages"] for label, alert in result["alerts"].items()} == {
        "hybrid_threat_warning": [1],
        "sabotage_mention": [3],
        "support_statement": [4],
    }
    for label, alert in result["alerts"].items():
        assert alert["alert"] is True
        assert alert["max_score"] == max(p["scores"][label] for p in passages) == result["scores"][label]


def test_neutral_document_has_no_alert(shipped_predictor):
    text = "Agenda\n\nThe meeting will take place on Tuesday in Geneva. The weather was sunny."
    (result,) = shipped_predictor.predict_documents([text], passages="auto")
    assert result["labels"] == []
    assert all(not a["alert"] and a["passages"] == [] for a in result["alerts"].values())
    assert [p["kind"] for p in result["passages"]] == ["heading", "sentence", "sentence"]


def test_passages_auto_and_never(shipped_predictor):
    one, many = shipped_predictor.predict_documents(["Saboteurs cut the undersea cable.", DOCUMENT], passages="auto")
    # one result shape whatever the passage count
    assert list(one) == list(many) == ["labels", "scores", "alerts", "language", "unsupported_languages", "passages"]
    assert one["labels"] == ["sabotage_mention"] and len(one["passages"]) == 1 and len(many["passages"]) == 5
    (never,) = shipped_predictor.predict_documents([DOCUMENT], passages="never", evidence_top_k=0)
    assert list(never) == ["labels", "scores", "alerts", "language", "unsupported_languages"]
    assert never["labels"] == many["labels"] and never["scores"] == many["scores"]
    (empty,) = shipped_predictor.predict_documents(["   "], passages="always")
    assert empty["labels"] == [] and empty["passages"] == []
    assert empty["scores"] == dict.fromkeys(shipped_predictor.labels, 0.0)


# Issue 21 item 4: the other-sense sentences of tests/data/other_senses.py ("hybrid" cars, work and courts,
# figurative "sabotage"). The target is at most a quarter of them alerting (6 of 24) with every plain-sense
# one alerting; not reached yet (docs/adaptation.md, "Other senses of the label words"): the shipped model
# alerts on 23 of 24, and this bound holds that figure so that a new default cannot make it worse unnoticed.
OTHER_SENSES_ALERTING_AT_MOST = 23


def test_other_senses_of_the_label_words(shipped_predictor):
    other, plain = alert_counts(shipped_predictor)
    assert other <= OTHER_SENSES_ALERTING_AT_MOST, f"{other} of {len(OTHER_SENSES)} other-sense sentences alert"
    assert plain == len(PLAIN_SENSES), f"only {plain} of {len(PLAIN_SENSES)} plain-sense sentences alert"
