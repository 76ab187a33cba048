"""Per-source thresholds (issue 21): tuning on a source's feedback, the manifest's table, the predictor's
`source`, and the cross-fitted gate's parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier.artifacts import MANIFEST_FILE, ArtifactError, read_manifest
from classifier.predictor import Predictor
from classifier.served_thresholds import threshold_matrix
from tests.cli_runner import run_cli
from training.sources import row_digest, source_thresholds, thresholds_only
from training.splits import crossfit_fold_of

LABELS = ["a", "b"]
THREAT = "Russia is waging a hybrid war of disinformation against Europe."


def test_a_source_gets_thresholds_only_for_labels_with_enough_positives():
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
    P = np.array([[0.9, 0.1], [0.6, 0.2], [0.3, 0.8], [0.4, 0.3], [0.7, 0.1], [0.2, 0.2]])
    sources = np.array(["feed", "feed", "feed", "feed", "feedback", "feedback"], dtype=object)
    chosen = source_thresholds(Y, P, sources, LABELS, min_positives=2)
    # "feedback" (no source named) gets nothing; "feed" has 2 positives of a, 1 of b: a only, at its best F1
    assert chosen == {"feed": {"a": {"threshold": 0.6, "policy": "best_f1", "positives": 2, "rows": 4}}}
    assert thresholds_only(chosen) == {"feed": {"a": 0.6}}
    assert source_thresholds(Y, P, sources, LABELS, min_positives=0) == {}  # 0: off
    assert source_thresholds(Y, P, sources, LABELS, min_positives=3) == {}


def test_served_thresholds_take_the_source_over_the_language_over_the_global():
    langs = np.array(["en", "de", "de", "en"], dtype=object)
    sources = np.array([None, None, "feed", "feed"], dtype=object)
    matrix = threshold_matrix(LABELS, [0.5, 0.5], {"de": {"a": 0.4}}, {"feed": {"b": 0.9}}, langs, sources)
    assert matrix.tolist() == [[0.5, 0.5], [0.4, 0.5], [0.4, 0.9], [0.5, 0.9]]
    assert threshold_matrix(LABELS, [0.5, 0.5], {}, {"feed": {"b": 0.9}}, langs).tolist() == [[0.5, 0.5]] * 4


def test_row_digests_and_crossfit_folds_are_stable():
    assert row_digest("Saboteurs cut the cable.", ["sabotage_mention"]) == row_digest(
        "Saboteurs cut the cable.", ["sabotage_mention"]
    )
    assert row_digest("x", ["b", "a"]) == row_digest("x", ["a", "b"]) != row_digest("x", ["a"])
    assert len(row_digest("x", [])) == 16
    folds = crossfit_fold_of(["feedback-doc:d1", "feedback-doc:d2", "feedback-doc:d1"], 3)
    assert folds[0] == folds[2] and set(folds.tolist()) <= {0, 1, 2}


def with_sources(predictor: Predictor, table: dict) -> Predictor:
    return Predictor(predictor.scorer, {**predictor.manifest, "thresholds_by_source": table}, score_unsupported=False)


def test_a_prediction_naming_a_source_is_decided_with_its_thresholds(predictor):
    served = with_sources(predictor, {"feed-a": {"hybrid_threat_warning": 1.0}})
    assert served.sources_with_thresholds == ["feed-a"]
    plain, named, other = (
        served.score_texts([THREAT])[0],
        served.score_texts([THREAT], source="feed-a")[0],
        served.score_texts([THREAT], source="feed-b")[0],
    )
    assert "hybrid_threat_warning" in plain.labels and "hybrid_threat_warning" in other.labels
    assert "hybrid_threat_warning" not in named.labels
    assert named.scores == plain.scores  # thresholds change, scores do not
    assert named.to_json()["alerts"]["hybrid_threat_warning"]["threshold"] == 1.0
    assert served.thresholds_for("en", "feed-a")["hybrid_threat_warning"] == 1.0
    assert served.thresholds_for("en")["hybrid_threat_warning"] == predictor.thresholds["hybrid_threat_warning"]
    documents = served.score_documents([THREAT, THREAT], source=["feed-a", None])
    assert ["hybrid_threat_warning" in d.labels for d in documents] == [False, True]
    assert documents[0].passages[0].labels == [label for label in plain.labels if label != "hybrid_threat_warning"]


def test_serving_and_training_decide_each_row_with_the_same_thresholds(predictor):
    """The predictor and training's figures share one rule (`classifier.served_thresholds`)."""
    labels = list(predictor.labels)
    by_language = {"de": {labels[0]: 0.11}, "uk": {labels[1]: 0.22, labels[2]: 0.33}}
    by_source = {"feed-a": {labels[1]: 0.44}, "feed-b": {labels[0]: 0.55, labels[2]: 0.66}}
    manifest = {**predictor.manifest, "thresholds_by_language": by_language, "thresholds_by_source": by_source}
    served = Predictor(predictor.scorer, manifest, score_unsupported=False)
    pairs = [(lang, src) for lang in ("en", "de", "uk", None) for src in (None, "feed-a", "feed-b", "feed-c")]
    matrix = threshold_matrix(labels, predictor.scorer.thresholds, by_language, by_source,
                              [lang for lang, _ in pairs], [src for _, src in pairs])  # fmt: skip
    for row, (lang, src) in zip(matrix.tolist(), pairs, strict=True):
        assert [served.thresholds_for(lang, src)[label] for label in labels] == row
    assert matrix[pairs.index(("uk", "feed-a"))].tolist() == [predictor.thresholds[labels[0]], 0.44, 0.33]


def test_a_bad_source_argument_is_refused(predictor):
    with pytest.raises(ValueError, match=r"^source: 1 sources for 2 texts$"):
        predictor.score_texts(["a", "b"], source=["x"])
    with pytest.raises(ValueError, match=r"^source: expected a string or None, got int$"):
        predictor.score_documents(["a"], source=[3])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "'thresholds_by_source' must map names to thresholds per label"),
        ({"feed": {"nope": 0.5}}, "'thresholds_by_source.feed' names 'nope', which is not a label of the version"),
        (
            {"feed": {"sabotage_mention": 1.5}},
            "'thresholds_by_source.feed.sabotage_mention' must be a number from 0 to 1, got 1.5",
        ),
        ({"feed": 0.5}, "'thresholds_by_source.feed' must map labels to thresholds"),
    ],
)
def test_the_manifest_table_of_source_thresholds_is_checked(models_copy, table, message):
    version_dir = next(p for p in models_copy.iterdir() if p.is_dir())
    path = version_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["thresholds_by_source"] = table
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        read_manifest(version_dir)
    assert str(info.value) == f"{path}: invalid manifest: {message}"


def _with_source_thresholds(models_copy, table: dict) -> None:
    """Give the copy's current version thresholds of its own for the sources of `table` (the manifest is not
    hashed: the decision table is what a retrain would have written)."""
    from classifier.versions import resolve_version_dir

    manifest_path = resolve_version_dir(models_copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["thresholds_by_source"] = table
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("command", ["score", "predict"])
def test_source_field_decides_each_record_with_its_sources_thresholds(models_copy, tmp_path, command):
    _with_source_thresholds(models_copy, {"wire-a": {"sabotage_mention": 0.001}})
    rows = [
        {"text": "The minister met the press.", "feed": "wire-a"},
        {"text": "The minister met the press.", "feed": "wire-b"},
        {"text": "The minister met the press."},
    ]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    given = [str(data), "-o", "-"] if command == "score" else ["--input", str(data)]
    done = run_cli(["-m", "classifier", command, *given, "--source-field", "feed"], models_copy)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [record.get("feed") for record in out] == ["wire-a", "wire-b", None]  # the field is echoed
    thresholds = [record["alerts"]["sabotage_mention"]["threshold"] for record in out]
    assert thresholds[0] == 0.001 and thresholds[1] == thresholds[2] != 0.001
    assert out[0]["labels"] == ["sabotage_mention"] and out[1]["labels"] == out[2]["labels"] == []


def test_source_field_bad_values_are_bad_records(models_copy, tmp_path):
    rows = [{"text": "One.", "feed": 7}, {"text": "Two.", "feed": "a\nb"}, {"text": "Three.", "feed": "x" * 300},
            {"text": "Four.", "feed": None}]  # fmt: skip
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = run_cli(
        ["-m", "classifier", "score", str(data), "-o", "-", "--source-field", "feed", "--on-error", "skip", "-q"],
        models_copy,
    )
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        f"{data}:1: field 'feed': the source must be a string, got int",
        f"{data}:2: field 'feed': the source contains a control character (U+000A) at character 1: a source name "
        "is printable text",
        f"{data}:3: field 'feed': the source must have 1 to 256 characters",
        "3 bad record(s) skipped",
    ]
    assert [json.loads(line)["feed"] for line in done.stdout.splitlines()] == [None]
