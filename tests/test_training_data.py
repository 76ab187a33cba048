"""Invalid training files stop loading with a `RecordError` naming file and line; threshold choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.records import RecordError
from tests.cli_runner import run_cli
from training.data import load_dataset, read_examples
from training.thresholds import (
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    best_f1_threshold,
    choose_thresholds,
    min_recall_threshold,
    parse_min_recall,
)

GOOD = '{"id": "a", "text": "Fine text.", "labels": []}\n'
LABELS = ["hybrid_threat_warning", "sabotage_mention", "support_statement"]


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(RecordError) as info:
        load_dataset(path, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ('{"id": "b", "text": "oops", "labels": [}', "2: invalid JSON: Expecting value (column 40)"),
        ('["x"]', "2: expected a JSON object, got list"),
        ('{"id": "b", "labels": []}', "2: missing 'text'"),
        ('{"id": "b", "text": 5, "labels": []}', "2: 'text' must be a string, got int"),
        ('{"id": "b", "text": "  \\t", "labels": []}', "2: 'text' is empty"),
        ('{"id": "b", "text": "x", "labels": "support_statement"}', "2: 'labels' must be a list of strings, got str"),
        ('{"id": "b", "text": "x", "labels": [""]}', "2: 'labels' must hold non-empty strings, got ''"),
        ('{"id": "b", "text": "x", "labels": [3]}', "2: 'labels' must hold non-empty strings, got 3"),
        ('{"id": "b", "text": "y"}', "2: missing 'labels' (use [] for a text with no label)"),
        ('{"id": "b", "text": "y", "labels": [], "unsure": "no"}', "2: 'unsure' must be true or false, got 'no'"),
        ('{"id": [1], "text": "y", "labels": []}', "2: 'id' must be a string or integer, got list"),
    ],
)
def test_invalid_jsonl_line_names_file_and_line(tmp_path, second_line, message):
    path = write(tmp_path, "train.jsonl", GOOD + second_line + "\n")
    assert error_of(path, min_label_count=0) == f"{path}:{message}"


def test_error_attributes(tmp_path):
    path = write(tmp_path, "train.jsonl", GOOD + '{"id": "b", "labels": []}\n')
    with pytest.raises(RecordError) as info:
        read_examples(path)
    assert (info.value.path, info.value.line, info.value.message) == (str(path), 2, "missing 'text'")


def test_blank_lines_count_in_line_numbers(tmp_path):
    path = write(tmp_path, "train.jsonl", GOOD + "\n   \n" + '{"id": "b", "text": " ", "labels": []}\n')
    assert error_of(path, min_label_count=0) == f"{path}:4: 'text' is empty"


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path, content):
    path = write(tmp_path, "train.jsonl", content)
    assert error_of(path) == f"{path}: no examples: the file is empty"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    assert error_of(path) == f"{path}: no such file or directory"


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"id":"a","text":"caf\xe9","labels":[]}\n')
    assert error_of(path) == f"{path}:1: invalid UTF-8 at byte 21"


def test_duplicate_ids(tmp_path):
    path = write(
        tmp_path,
        "train.jsonl",
        GOOD + '{"id": "b", "text": "y", "labels": []}\n{"id": "a", "text": "z", "labels": []}\n',
    )
    assert error_of(path, min_label_count=0) == f"{path}:3: duplicate id 'a' (first on line 1)"


def test_integer_and_string_ids_collide(tmp_path):
    path = write(
        tmp_path, "train.jsonl", '{"id": 7, "text": "y", "labels": []}\n{"id": "7", "text": "z", "labels": []}\n'
    )
    assert error_of(path, min_label_count=0) == f"{path}:2: duplicate id '7' (first on line 1)"


def _rows(label_counts: dict[str, int]) -> str:
    rows, i = [GOOD], 0
    for label, count in label_counts.items():
        for _ in range(count):
            rows.append(json.dumps({"id": f"r{i}", "text": f"text {i}", "labels": [label]}) + "\n")
            i += 1
    return "".join(rows)


def test_label_seen_fewer_than_min_count(tmp_path):
    counts = {"hybrid_threat_warning": 3, "sabotage_mention": 2, "support_statement": 3}
    path = write(tmp_path, "train.jsonl", _rows(counts))
    # sabotage_mention's first example is on line 5 (line 1 is GOOD, lines 2-4 hybrid_threat_warning)
    assert error_of(path, min_label_count=3) == (
        f"{path}:5: label 'sabotage_mention' has 2 examples; at least 3 are needed"
    )
    assert load_dataset(path, min_label_count=2).labels == LABELS


def test_label_never_seen_has_no_line(tmp_path):
    path = write(tmp_path, "train.jsonl", _rows({"support_statement": 10, "sabotage_mention": 10}))
    assert error_of(path) == f"{path}: label 'hybrid_threat_warning' has 0 examples; at least 10 are needed"


def test_unknown_label_against_a_given_label_set(tmp_path):
    path = write(tmp_path, "train.jsonl", _rows({"support_statement": 1, "sabotage_mention": 1}))
    assert error_of(path, labels=["support_statement"], min_label_count=0) == (
        f"{path}:3: unknown label(s) ['sabotage_mention']; the label set is ['support_statement']"
    )


def test_other_label_names_become_the_label_set(tmp_path):
    path = write(tmp_path, "train.jsonl", _rows({"zeta": 2, "alpha": 2}))
    dataset = load_dataset(path, min_label_count=2)
    assert dataset.labels == ["alpha", "zeta"]
    assert dataset.Y.tolist() == [[0, 0], [0, 1], [0, 1], [1, 0], [1, 0]]


def test_csv_missing_labels_column(tmp_path):
    path = write(tmp_path, "train.csv", "id,text\n1,hello\n")
    assert error_of(path) == f"{path}:1: no column 'labels' in the header (columns: id, text)"


def test_csv_empty_file(tmp_path):
    path = write(tmp_path, "train.csv", "")
    assert error_of(path) == f"{path}:1: empty CSV file: a header row is needed"


def test_csv_more_fields_than_header(tmp_path):
    path = write(tmp_path, "train.csv", "id,text,labels\n1,hello,,surplus\n")
    assert error_of(path) == f"{path}:2: expected 3 fields, got 4"


def test_csv_fewer_fields_than_header(tmp_path):
    # was read as a row without labels (issue 10)
    path = write(tmp_path, "train.csv", "id,text,labels\n1,hello,support_statement\n2,short row\n")
    assert error_of(path, min_label_count=0) == f"{path}:3: expected 3 fields, got 2"


def test_csv_empty_text(tmp_path):
    path = write(tmp_path, "train.csv", "id,text,labels\n1,hello,\n2,,support_statement\n")
    assert error_of(path, min_label_count=0) == f"{path}:3: 'text' is empty"


def test_csv_labels_separated_by_pipes(tmp_path):
    path = write(
        tmp_path,
        "train.csv",
        "id,text,labels,unsure\n"
        "1,hello,support_statement|sabotage_mention,yes\n"
        "2,no label,,0\n"
        "3,x,hybrid_threat_warning | support_statement | ,false\n",
    )
    dataset = load_dataset(path, min_label_count=0)
    assert [(e.id, e.text, e.labels, e.unsure, e.line) for e in dataset.examples] == [
        ("1", "hello", ["sabotage_mention", "support_statement"], True, 2),
        ("2", "no label", [], False, 3),
        ("3", "x", ["hybrid_threat_warning", "support_statement"], False, 4),
    ]
    assert dataset.labels == LABELS
    assert dataset.Y.tolist() == [[0, 1, 1], [0, 0, 0], [1, 0, 1]]


def test_csv_unknown_label_in_pipe_list(tmp_path):
    path = write(tmp_path, "train.csv", "text,labels\nhello,support_statement|sabotage\n")
    assert error_of(path, labels=LABELS, min_label_count=0) == (
        f"{path}:2: unknown label(s) ['sabotage']; the label set is {LABELS}"
    )


def test_groups_default_to_doc_then_group_then_id(tmp_path):
    path = write(
        tmp_path,
        "train.jsonl",
        '{"id": "a", "text": "x", "labels": [], "doc": "D1", "group": "G"}\n'
        '{"id": "b", "text": "y", "labels": [], "group": "G"}\n'
        '{"text": "z", "labels": []}\n',
    )
    dataset = load_dataset(path, min_label_count=0)
    assert dataset.groups.tolist() == ["D1", "G", "line-3"]
    assert [e.id for e in dataset.examples] == ["a", "b", "line-3"]


def test_training_cli_exits_2_with_the_message_on_stderr(tmp_path):
    path = write(tmp_path, "bad.jsonl", GOOD + '{"id": "b", "text": "oops", "labels": [}\n')
    out = run_cli(
        ["-m", "training", "train", "--data", str(path), "--out", str(tmp_path / "models")], tmp_path / "models"
    )
    assert out.returncode == 2
    assert out.stderr == f"error: {path}:2: invalid JSON: Expecting value (column 40)\n"
    assert out.stdout == ""
    assert not (tmp_path / "models").exists()


def test_training_cli_rejects_cv_below_2(tmp_path):
    out = run_cli(["-m", "training", "train", "--cv", "1", "--out", str(tmp_path / "models")], tmp_path / "models")
    assert (out.returncode, out.stderr) == (2, "error: --cv must be at least 2\n")


# Thresholds ------------------------------------------------------------------------------------


def test_best_f1_threshold_known_answers():
    # t=0.35 -> TP 2, FP 1: F1 0.8; t=0.8 -> F1 0.667; t=0.4 -> F1 0.5
    assert best_f1_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.35
    # t=0.3 -> P 0.75, R 1: F1 0.857; t=0.7 -> P 1, R 2/3: F1 0.8
    assert best_f1_threshold(np.array([0, 1, 0, 1, 1]), np.array([0.2, 0.3, 0.5, 0.7, 0.9])) == 0.3


def test_best_f1_threshold_is_clipped():
    assert best_f1_threshold(np.array([0, 1]), np.array([0.001, 0.999])) == MAX_THRESHOLD == 0.99
    assert best_f1_threshold(np.array([0, 1]), np.array([0.0001, 0.005])) == MIN_THRESHOLD == 0.01


def test_min_recall_threshold_known_answers():
    y, p = np.array([0, 1, 0, 1, 1]), np.array([0.2, 0.3, 0.5, 0.7, 0.9])
    assert min_recall_threshold(y, p, 1.0) == 0.3
    assert min_recall_threshold(y, p, 0.6) == 0.7  # recall 2/3 at 0.7
    assert min_recall_threshold(y, p, 0.67) == 0.3  # 2/3 < 0.67: only 0.3 reaches it
    assert min_recall_threshold(y, p, 0.3) == 0.9  # recall 1/3 at 0.9
    assert min_recall_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), 0.5) == 0.8


def test_choose_thresholds_policies():
    Y = np.array([[0, 0], [1, 1], [0, 0], [1, 1], [1, 1]])
    P = np.array([[0.2, 0.2], [0.3, 0.3], [0.5, 0.5], [0.7, 0.7], [0.9, 0.9]])
    assert choose_thresholds(Y, P, ["a", "b"], {"b": 0.6}) == {
        "a": {"threshold": 0.3, "policy": "best_f1"},
        "b": {"threshold": 0.7, "policy": "min_recall=0.6"},
    }


def test_parse_min_recall():
    assert parse_min_recall(None, LABELS) == {}
    assert parse_min_recall(["sabotage_mention=0.9", "support_statement=1"], LABELS) == {
        "sabotage_mention": 0.9,
        "support_statement": 1.0,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sabotage_mention", "--min-recall 'sabotage_mention': expected LABEL=RECALL"),
        (
            "sabotage=0.9",
            "--min-recall 'sabotage=0.9': unknown label 'sabotage'; labels are "
            "['hybrid_threat_warning', 'sabotage_mention', 'support_statement']",
        ),
        ("sabotage_mention=high", "--min-recall 'sabotage_mention=high': 'high' is not a number"),
        ("sabotage_mention=0", "--min-recall 'sabotage_mention=0': recall must be in (0, 1]"),
        ("sabotage_mention=1.5", "--min-recall 'sabotage_mention=1.5': recall must be in (0, 1]"),
    ],
)
def test_parse_min_recall_errors(spec, message):
    with pytest.raises(ValueError) as info:
        parse_min_recall([spec], LABELS)
    assert str(info.value) == message


# Training itself, on a small sample of the corpus (labels as annotated) ------------------------


def write_corpus_sample(path: Path) -> Path:
    from classifier.config import CORPUS_PATH

    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(7)
    picked: list[dict] = []
    for label in LABELS:
        with_label = [r for r in rows if label in r["labels"]]
        picked += [with_label[i] for i in rng.choice(len(with_label), 40, replace=False)]
    unlabelled = [r for r in rows if not r["labels"]]
    picked += [unlabelled[i] for i in rng.choice(len(unlabelled), 80, replace=False)]
    unique = list({r["id"]: r for r in picked}.values())
    path.write_text("".join(json.dumps(r) + "\n" for r in unique), encoding="utf-8")
    return path


@pytest.mark.slow
def test_train_model_on_a_small_file(tmp_path, capsys):
    from classifier.artifacts import MANIFEST_FILE, load_estimator, load_scorer
    from classifier.versions import current_version
    from training.train import train_model

    data = write_corpus_sample(tmp_path / "small.jsonl")
    models = tmp_path / "models"
    version_dir = train_model(data, models_dir=models, cv=2, n_jobs=1, progress=None, version="small-v1")
    assert version_dir == models / "small-v1"
    assert sorted(p.name for p in models.iterdir()) == ["CURRENT", "HISTORY", "small-v1"]
    assert current_version(models) == "small-v1"
    assert sorted(p.name for p in version_dir.iterdir()) == [
        "MODEL_CARD.md",
        "holdout_scorer.npz",
        "manifest.json",
        "model.joblib",
        "report",
        "scorer.npz",
    ]
    # no by_language.png: no language of so small a file has the rows for per-language figures
    assert sorted(p.name for p in (version_dir / "report").iterdir()) == ["confusion_matrices.png", "pr_curves.png"]
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    n_rows = len(data.read_text(encoding="utf-8").splitlines())
    assert manifest["version"] == "small-v1" and manifest["labels"] == LABELS and manifest["cv_folds"] == 2
    assert manifest["training_data"]["rows"] == n_rows
    assert manifest["training_data"]["sha256"] == load_dataset(data).sha256
    assert set(manifest["thresholds"]) == set(LABELS)
    assert all(MIN_THRESHOLD <= t <= MAX_THRESHOLD for t in manifest["thresholds"].values())
    assert manifest["metrics"]["holdout"]["rows"] + manifest["metrics"]["cross_validation"]["rows"] == n_rows
    estimator, _ = load_estimator(version_dir)
    scorer, _ = load_scorer(version_dir)
    texts = load_dataset(data).texts[:50]
    np.testing.assert_allclose(scorer.predict_proba(texts), estimator.predict_proba(texts), rtol=0, atol=1e-9)
    # the manifest rounds thresholds to 6 decimals
    np.testing.assert_allclose(scorer.thresholds, [manifest["thresholds"][label] for label in LABELS], atol=5e-7)

    # `evaluate` on the model's own training data warns (issue 10: it reported 1.000 without a word)
    from training.cli import main

    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(version_dir), "--data", str(data), "--report", str(report)]) == 0
    assert capsys.readouterr().err == (
        f"warning: {data} is the data small-v1 was trained on: these are training-fit figures, not an estimate of "
        "accuracy on new text\n"
    )
    other = tmp_path / "other.jsonl"
    other.write_text("".join(data.read_text(encoding="utf-8").splitlines(keepends=True)[:60]), encoding="utf-8")
    assert main(["evaluate", "--model", str(version_dir), "--data", str(other), "--report", str(report)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_failed_training_leaves_the_models_dir_as_it_was(tmp_path, monkeypatch):
    import training.train
    from training.train import train_model

    data = write_corpus_sample(tmp_path / "small.jsonl")
    models = tmp_path / "models"
    models.mkdir()
    (models / "CURRENT").write_text("previous\n", encoding="utf-8")

    def broken_plots(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(training.train, "write_plots", broken_plots)
    with pytest.raises(OSError, match="disk full"):
        train_model(data, models_dir=models, cv=2, n_jobs=1, progress=None, version="small-v2")
    assert sorted(p.name for p in models.iterdir()) == ["CURRENT"]
    assert (models / "CURRENT").read_text(encoding="utf-8") == "previous\n"


@pytest.mark.slow
def test_added_rows_always_train_so_the_held_out_rows_stay_the_same(tmp_path):
    from classifier.config import CORPUS_PATH
    from training.splits import holdout_mask
    from training.train import train_model

    base = write_corpus_sample(tmp_path / "base.jsonl")
    base_ids = {json.loads(line)["id"] for line in base.read_text(encoding="utf-8").splitlines()}
    others = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    added = [r for r in others if r["id"] not in base_ids][:120]
    extra = tmp_path / "feedback.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in added), encoding="utf-8")
    assert holdout_mask([r["doc"] for r in added]).any()  # some added rows would hash into the held-out split

    models = tmp_path / "models"
    plain = train_model(base, models_dir=models, cv=2, n_jobs=1, progress=None, version="base-only")
    more = train_model(
        base, models_dir=models, extra_data=[extra], cv=2, n_jobs=1, progress=None, version="with-feedback"
    )
    held = [json.loads((v / "manifest.json").read_text())["metrics"]["holdout"]["rows"] for v in (plain, more)]
    base_groups = [json.loads(line)["doc"] for line in base.read_text(encoding="utf-8").splitlines()]
    assert held == [int(holdout_mask(base_groups).sum())] * 2
    from training.splits import feedback_holdout_mask

    metrics = json.loads((more / "manifest.json").read_text())["metrics"]
    feedback_held = int(feedback_holdout_mask([r["doc"] for r in added]).sum())
    assert feedback_held > 0 and metrics["feedback_holdout"]["rows"] == feedback_held
    assert metrics["cross_validation"]["rows"] == len(base_groups) + len(added) - held[1] - feedback_held


@pytest.mark.slow
def test_unsure_rows_are_left_out_of_training_but_evaluated(tmp_path):
    from training.train import train_model

    data = write_corpus_sample(tmp_path / "small.jsonl")
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    unsure = sum(r["unsure"] for r in rows)
    assert unsure > 0
    models = tmp_path / "models"
    for policy, left_out in (("drop", unsure), ("keep", 0)):
        version = train_model(
            data, models_dir=models, cv=2, n_jobs=1, progress=None, version=policy, unsure_rows=policy
        )
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["unsure_rows"] == {"policy": policy, "left_out_of_training": left_out}
        metrics = manifest["metrics"]
        assert metrics["holdout"]["rows"] + metrics["cross_validation"]["rows"] == len(rows)
    with pytest.raises(ValueError, match="unsure_rows must be 'drop' or 'keep'"):
        train_model(data, models_dir=models, cv=2, progress=None, unsure_rows="maybe")


def card_manifest(labels: list[str], path: str) -> dict:
    metrics = {"labels": {label: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3, "average_precision": None}
                          for label in labels}, "rows": 9, "micro": {"precision": 0.5, "recall": 0.5, "f1": 0.5},
               "macro": {"precision": 0.5, "recall": 0.5, "f1": 0.5}}  # fmt: skip
    return {
        "version": "v1", "created": "2026-01-01T00:00:00+00:00", "labels": labels, "cv_folds": 2,
        "threshold_policy": {label: {"threshold": 0.5, "policy": "best_f1"} for label in labels},
        "training_data": {"path": path, "sha256": "0" * 64, "rows": 9, "groups": 9, "no_label": 3, "unsure": 0,
                          "label_counts": dict.fromkeys(labels, 3), "sources": {"my_feed": 9}},
        "metrics": {"holdout": metrics, "cross_validation": metrics}, "params": {"C": 10.0}, "versions": {},
    }  # fmt: skip


def test_model_card_of_ones_own_labels_describes_that_data():
    # issue 10: it described the bundled labels and sources whatever the data
    from training.model_card import KNOWN_LIMITS, render_model_card

    card = render_model_card(card_manifest(["invoice", "complaint"], "mine.jsonl"))
    assert card.startswith("# Model card: text classifier, version `v1`\n")
    assert "Flag passages with the labels `invoice`, `complaint`, as the annotators of `mine.jsonl` defined" in card
    assert "hybrid" not in card.lower() and KNOWN_LIMITS not in card
    assert "- Trained on `mine.jsonl` only: the figures below hold for text like it" in card
    assert "Sources: my_feed (9)." in card
    bundled = render_model_card(card_manifest(LABELS, "data/corpus/corpus.jsonl"))
    assert bundled.startswith("# Model card: hybrid-threat alert classifier, version `v1`\n")
    assert KNOWN_LIMITS in bundled
