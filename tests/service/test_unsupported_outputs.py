"""No silent misses: a passage in a language the model was not trained on is never answered with bare
zeros, on any output path (the library, the CLI's predict and score in JSONL and CSV, the HTTP API).
Label Studio's predictions: tests/label_studio/test_routes.py. The sentences are written for the tests."""

from __future__ import annotations

import csv
import json

import pytest

from classifier.predictor import Predictor
from tests.cli_runner import run_cli

RUSSIAN = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
ENGLISH = "Saboteurs blew up the railway bridge near the border last night."
LABELS = ["hybrid_threat_warning", "sabotage_mention", "support_statement"]


def assert_unread(result: dict, languages=("ru",)):
    """A result with unread passages: null alerts with a reason for what did not fire, no zeros."""
    assert result["unsupported_languages"] == list(languages)
    for label, alert in result["alerts"].items():
        if label not in result["labels"]:
            assert alert["alert"] is None and alert["reason"].startswith("not scored: passages in ru")
    for passage in result.get("passages", []):
        if passage["language"] in languages:
            assert passage["supported"] is False and passage["labels"] == []
            assert passage["scores"] == dict.fromkeys(LABELS)


def test_library_all_modes(predictor):
    assert "ru" not in predictor.languages
    (doc,) = predictor.predict_documents([RUSSIAN], passages="always", evidence_top_k=5)
    assert_unread(doc)
    assert doc["scores"] == dict.fromkeys(LABELS) and doc["language"] == "ru"
    (never,) = predictor.predict_documents([RUSSIAN], passages="never", evidence_top_k=5)
    assert_unread(never)
    assert never["evidence"] == {} and never["scores"] == dict.fromkeys(LABELS)
    (whole,) = predictor.predict_texts([RUSSIAN])
    assert_unread(whole)
    # mixed: the English sentence is read and fires; the Russian one is flagged
    (mixed,) = predictor.predict_documents([f"{ENGLISH} {RUSSIAN}"], passages="always", evidence_top_k=0)
    assert mixed["labels"] == ["sabotage_mention"] and mixed["alerts"]["sabotage_mention"]["alert"] is True
    assert [p["supported"] for p in mixed["passages"]] == [True, False]
    assert_unread(mixed)
    assert mixed["scores"]["sabotage_mention"] == mixed["passages"][0]["scores"]["sabotage_mention"]


def test_score_anyway_setting(trained_version_dir):
    anyway = Predictor.load(trained_version_dir, score_unsupported=True)
    (doc,) = anyway.predict_documents([RUSSIAN], passages="always", evidence_top_k=0)
    (passage,) = doc["passages"]
    assert passage["supported"] is False and doc["unsupported_languages"] == ["ru"]
    assert all(isinstance(v, float) for v in passage["scores"].values())  # scored, still marked
    assert all(isinstance(a["alert"], bool) and "reason" not in a for a in doc["alerts"].values())


def test_score_anyway_from_the_environment(trained_version_dir, monkeypatch):
    monkeypatch.setenv("HTA_SCORE_UNSUPPORTED", "true")
    assert Predictor.load(trained_version_dir).score_unsupported is True
    monkeypatch.setenv("HTA_SCORE_UNSUPPORTED", "maybe")
    with pytest.raises(ValueError, match="HTA_SCORE_UNSUPPORTED: expected true/false, got 'maybe'"):
        Predictor.load(trained_version_dir)


def test_cli_predict(trained_models_dir):
    out = run_cli(["-m", "classifier", "predict"], trained_models_dir, json.dumps({"text": RUSSIAN}) + "\n")
    assert out.returncode == 0, out.stderr
    assert_unread(json.loads(out.stdout))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_cli_score_outputs_and_summary(trained_models_dir, tmp_path, suffix):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate([ENGLISH, RUSSIAN])))
    target = tmp_path / f"out{suffix}"
    out = run_cli(["-m", "classifier", "score", str(source), "-o", str(target), "--quiet"], trained_models_dir)
    assert out.returncode == 0, out.stderr
    assert "1 passage(s) in languages the model was not trained on: not scored, alerts null" in out.stderr
    if suffix == ".jsonl":
        english, russian = (json.loads(line) for line in target.read_text().splitlines())
        assert_unread(russian)
        assert english["unsupported_languages"] == [] and english["language"] == "en"
        assert [p["language"] for p in russian["passages"]] == ["ru"]  # an unread passage is always listed
    else:
        with open(target, encoding="utf-8", newline="") as handle:
            english, russian = list(csv.DictReader(handle))
        assert (russian["language"], russian["unsupported_languages"], russian["labels"]) == ("ru", "ru", "")
        assert all(russian[f"score_{label}"] == "" for label in LABELS)  # empty, not 0.0
        assert english["language"] == "en" and float(english["score_sabotage_mention"]) > 0.5


def unsupported_count(client, language: str) -> float:
    """The /metrics counter of unread passages in `language` (the registry is the process's: other tests add)."""
    prefix = f'hta_passages_unsupported_total{{language="{language}"}} '
    lines = [line for line in client.get("/metrics").get_data(as_text=True).splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def test_http_predict_and_metrics(client):
    before = unsupported_count(client, "ru")
    body = client.post("/v1/predict", json={"texts": [RUSSIAN, ENGLISH]}).get_json()
    russian, english = body["results"]
    assert_unread(russian)
    assert english["labels"] == ["sabotage_mention"] and english["unsupported_languages"] == []
    never = client.post("/v1/predict", json={"text": RUSSIAN, "passages": "never"}).get_json()["results"][0]
    assert_unread(never)
    docs = client.post("/v1/predict", json={"documents": [{"id": "r", "text": RUSSIAN}]}).get_json()
    assert_unread(docs["results"][0])
    assert unsupported_count(client, "ru") - before == 3.0
