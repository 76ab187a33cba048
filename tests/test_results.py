"""Typed results (`classifier.results`) and `Predictor`'s typed path, on the bundled model (no training)."""

from __future__ import annotations

import pytest

from classifier.config import PROJECT_ROOT
from classifier.predictor import Predictor
from classifier.results import Alert, DocumentResult, PassageMode, PassageResult, TextResult
from classifier.versions import resolve_version_dir

ONE = "Saboteurs cut the undersea cable."
TWO = "The meeting will take place on Tuesday in Geneva. We stand with Ukraine."


@pytest.fixture(scope="module")
def bundled() -> Predictor:
    return Predictor.load(resolve_version_dir(PROJECT_ROOT / "models"))


def test_passage_mode_values():
    assert [m.value for m in PassageMode] == ["always", "auto", "never"]
    assert PassageMode("auto").lists_passages and PassageMode.ALWAYS.lists_passages
    assert not PassageMode.NEVER.lists_passages
    with pytest.raises(ValueError):
        PassageMode("sometimes")


@pytest.mark.parametrize("mode", ["always", "auto"])
def test_document_shape_does_not_depend_on_the_passage_count(bundled, mode):
    one, two = bundled.score_documents([ONE, TWO], mode, evidence_top_k=2)
    assert isinstance(one, DocumentResult) and isinstance(two, DocumentResult)
    assert (
        list(one.to_json())
        == list(two.to_json())
        == ["labels", "scores", "alerts", "language", "unsupported_languages", "passages"]
    )
    assert [p.to_json()["text"] for p in one.passages] == [ONE]
    assert [(p.start, p.end) for p in two.passages] == [(0, 49), (50, 72)]
    assert one.labels == ["sabotage_mention"] and two.labels == ["support_statement"]
    # evidence for the one-passage text too, and {} on a passage where nothing fired
    assert [t["term"] for t in one.passages[0].evidence["sabotage_mention"]][:1] == ["saboteurs"]
    assert two.passages[0].evidence == {}
    assert one.passage_count == 1 and two.passage_count == 2


def test_alerts_carry_the_threshold(bundled):
    (doc,) = bundled.score_documents([TWO], "always")
    assert doc.coverage.language == "en"
    thresholds = bundled.thresholds_for("en")  # the English thresholds, tuned on English rows
    assert doc.alerts == {
        label: Alert(
            label == "support_statement",
            doc.scores[label],
            thresholds[label],
            [1] if label == "support_statement" else [],
        )
        for label in bundled.labels
    }
    assert doc.to_json()["alerts"] == {label: alert.to_json() for label, alert in doc.alerts.items()}
    assert doc.scores == {label: max(p.scores[label] for p in doc.passages) for label in bundled.labels}


def test_only_alert_passages(bundled):
    (doc,) = bundled.score_documents([TWO], "always")
    assert [p["index"] for p in doc.to_json(all_passages=False)["passages"]] == [1]
    assert [p["index"] for p in doc.to_json()["passages"]] == [0, 1]


def test_never_gives_text_results_with_the_best_passages_evidence(bundled):
    (text,) = bundled.score_documents([TWO], PassageMode.NEVER, evidence_top_k=3)
    (doc,) = bundled.score_documents([TWO], PassageMode.ALWAYS, evidence_top_k=3)
    assert isinstance(text, TextResult)
    assert list(text.to_json()) == ["labels", "scores", "alerts", "language", "unsupported_languages", "evidence"]
    assert (text.labels, text.scores) == (doc.labels, doc.scores)
    assert text.evidence == {"support_statement": doc.passages[1].evidence["support_statement"]}
    assert text.to_json()["alerts"]["support_statement"] == {
        "alert": True,
        "max_score": doc.scores["support_statement"],
        "threshold": bundled.thresholds_for("en")["support_statement"],
    }
    (plain,) = bundled.score_documents([TWO], PassageMode.NEVER)
    assert "evidence" not in plain.to_json()


def test_never_with_evidence_on_a_document_with_an_unread_passage(bundled):
    # the best passage of a fired label is looked for among the scored ones (an unread one has null scores)
    russian = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
    document = f"{russian}\n\nWe stand with Ukraine."
    (text,) = bundled.score_documents([document], PassageMode.NEVER, evidence_top_k=2)
    (doc,) = bundled.score_documents([document], PassageMode.ALWAYS, evidence_top_k=2)
    assert [p.supported for p in doc.passages] == [False, True]
    assert text.labels == doc.labels == ["support_statement"]
    assert text.evidence == {"support_statement": doc.passages[1].evidence["support_statement"]}
    assert text.to_json()["unsupported_languages"] == ["ru"]


def test_score_texts_scores_the_whole_text_as_one_passage(bundled):
    whole, part = bundled.score_texts([TWO, "We stand with Ukraine."], evidence_top_k=1)
    assert whole.scores != part.scores  # not segmented: the whole text is one passage
    assert list(whole.to_json()) == ["labels", "scores", "alerts", "language", "unsupported_languages", "evidence"]
    # one term (top_k=1), and a word of the text itself
    ((term,),) = [[t["term"] for t in terms] for terms in part.evidence.values()]
    assert list(part.evidence) == ["support_statement"] and term in {"we", "stand", "with", "ukraine"}


def test_empty_document(bundled):
    (doc,) = bundled.score_documents(["   "], "always")
    assert doc.to_json() == {
        "labels": [],
        "scores": dict.fromkeys(bundled.labels, 0.0),
        "alerts": {
            label: {"alert": False, "max_score": 0.0, "threshold": bundled.thresholds[label], "passages": []}
            for label in bundled.labels
        },
        "language": None,
        "unsupported_languages": [],
        "passages": [],
    }


def test_passage_result_json_leaves_out_evidence_not_asked_for():
    passage = PassageResult(0, 0, 3, "sentence", "abc", [], {"a": 0.1})
    assert passage.to_json() == {
        "index": 0,
        "start": 0,
        "end": 3,
        "kind": "sentence",
        "text": "abc",
        "language": None,
        "supported": True,
        "labels": [],
        "scores": {"a": 0.1},
    }
    passage.evidence = {}
    assert passage.to_json()["evidence"] == {}


def test_dict_renderings_are_the_typed_results_to_json(bundled):
    one, two = bundled.predict_documents([ONE, TWO], passages="auto", evidence_top_k=2)
    typed_one, typed_two = bundled.score_documents([ONE, TWO], "auto", evidence_top_k=2)
    assert one == typed_one.to_json() and two == typed_two.to_json()
    assert list(one) == list(two) == ["labels", "scores", "alerts", "language", "unsupported_languages", "passages"]
    assert set(two["alerts"]["support_statement"]) == {"alert", "max_score", "threshold", "passages"}
    (text,) = bundled.predict_texts([ONE], evidence_top_k=2)
    (typed_text,) = bundled.score_texts([ONE], evidence_top_k=2)
    assert text == typed_text.to_json() and list(text) == [
        "labels",
        "scores",
        "alerts",
        "language",
        "unsupported_languages",
        "evidence",
    ]
    assert list(bundled.predict_texts([ONE])[0]) == ["labels", "scores", "alerts", "language", "unsupported_languages"]
    (never,) = bundled.predict_documents([TWO], passages="never", evidence_top_k=0)
    assert never == bundled.score_documents([TWO], "never")[0].to_json()
    assert list(never) == ["labels", "scores", "alerts", "language", "unsupported_languages"]
