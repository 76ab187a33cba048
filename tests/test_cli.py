"""Command lines: `python -m classifier predict` and `python -m training evaluate`, run in-process
(tests/cli_runner.py); the real `python -m` and console-script processes are tested in the slow tier."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from classifier.config import CORPUS_PATH, PROJECT_ROOT
from classifier.predictor import Predictor
from tests.cli_runner import Completed, run_cli

LABELS = ["hybrid_threat_warning", "sabotage_mention", "support_statement"]


def run(args: list[str], models_dir: Path, stdin: str = "", cwd: Path = PROJECT_ROOT) -> Completed:
    return run_cli(args, models_dir, stdin, cwd)


def test_predict_jsonl_echoes_fields(trained_models_dir, trained_version_dir, predictor):
    stdin = (
        '{"id": 1, "text": "Saboteurs cut the undersea cable.", "extra": {"k": [1, 2]}}\n'
        "\n"
        '{"id": "b", "text": "The meeting will take place on Tuesday in Geneva. We stand with Ukraine."}\n'
    )
    out = run(["-m", "classifier", "predict", "--evidence", "1"], trained_models_dir, stdin)
    assert (out.returncode, out.stderr) == (0, "")
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    version = trained_version_dir.name
    thresholds = Predictor.load(trained_version_dir).thresholds_for("en")
    # one shape whatever the passage count: alerts (with each label's threshold) and passages
    assert list(first) == [
        "id",
        "extra",
        "labels",
        "scores",
        "alerts",
        "language",
        "unsupported_languages",
        "passages",
        "model_version",
    ]
    assert list(second) == [
        "id",
        "labels",
        "scores",
        "alerts",
        "language",
        "unsupported_languages",
        "passages",
        "model_version",
    ]
    assert first["id"] == 1 and first["extra"] == {"k": [1, 2]} and first["model_version"] == version
    assert first["labels"] == ["sabotage_mention"] and list(first["scores"]) == LABELS
    (only,) = first["passages"]
    assert (only["index"], only["start"], only["end"], only["kind"]) == (0, 0, 33, "sentence")
    assert only["labels"] == ["sabotage_mention"] and only["scores"] == first["scores"]
    # evidence for a one-passage record too (it was missing before)
    assert [e["term"] for e in only["evidence"]["sabotage_mention"]] == ["saboteurs"]
    assert first["alerts"] == {
        label: {
            "alert": label == "sabotage_mention",
            "max_score": first["scores"][label],
            "threshold": thresholds[label],
            "passages": [0] if label == "sabotage_mention" else [],
        }
        for label in LABELS
    }
    assert second["id"] == "b" and second["labels"] == ["support_statement"]
    assert [(p["start"], p["end"], p["text"], p["labels"]) for p in second["passages"]] == [
        (0, 49, "The meeting will take place on Tuesday in Geneva.", []),
        (50, 72, "We stand with Ukraine.", ["support_statement"]),
    ]
    assert second["alerts"]["support_statement"] == {
        "alert": True,
        "max_score": second["passages"][1]["scores"]["support_statement"],
        "threshold": thresholds["support_statement"],
        "passages": [1],
    }
    assert second["passages"][0]["evidence"] == {}
    text = "The meeting will take place on Tuesday in Geneva. We stand with Ukraine."
    (expected,) = predictor.predict_documents([text], passages="auto", evidence_top_k=1)
    assert second["passages"][1]["evidence"] == expected["passages"][1]["evidence"]
    assert len(second["passages"][1]["evidence"]["support_statement"]) == 1


@pytest.mark.slow
def test_predict_processes_2_writes_the_same_output_in_order(trained_models_dir, tmp_path):
    # two chunks (DEFAULT_CHUNK_RECORDS is 2,000): the second's results must come after the first's
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()[:2050]]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"n": i, "text": r["text"]}) + "\n" for i, r in enumerate(rows)))
    outputs = []
    for processes in ("1", "2"):
        target = tmp_path / f"out{processes}.jsonl"
        out = run(
            ["-m", "classifier", "predict", "-i", str(source), "-o", str(target), "--processes", processes],
            trained_models_dir,
        )
        assert (out.returncode, out.stderr) == (0, "")
        outputs.append(target.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert [json.loads(line)["n"] for line in outputs[1].splitlines()] == list(range(2050))


def test_predict_text_field_and_passages_never(trained_models_dir):
    stdin = '{"body": "Saboteurs cut the undersea cable. Then they left.", "text": "kept"}\n'
    out = run(["-m", "classifier", "predict", "--text-field", "body", "--passages", "never"], trained_models_dir, stdin)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["text"] == "kept" and "body" not in record
    assert list(record) == [
        "text",
        "labels",
        "scores",
        "alerts",
        "language",
        "unsupported_languages",
        "evidence",
        "model_version",
    ]
    assert record["labels"] == ["sabotage_mention"]
    assert set(record["alerts"]["sabotage_mention"]) == {"alert", "max_score", "threshold"}
    # evidence of the passage that scored highest ("Saboteurs cut the undersea cable.")
    assert list(record["evidence"]) == ["sabotage_mention"]
    assert record["evidence"]["sabotage_mention"][0]["term"] == "saboteurs"


def test_predict_text_format_with_model_dir(trained_version_dir, tmp_path):
    document = tmp_path / "doc.txt"
    document.write_text("Title\r\n\r\nSaboteurs cut the undersea cable. Fine.\r\n", encoding="utf-8", newline="")
    empty_models = tmp_path / "no-models"  # --model wins over the (empty) models directory
    out = run(
        ["-m", "classifier", "predict", "--format", "text", "-i", str(document), "--model", str(trained_version_dir)],
        empty_models,
    )
    assert (out.returncode, out.stderr) == (0, "")
    (record,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert record["source"] == str(document)
    assert record["model_version"] == trained_version_dir.name
    assert record["labels"] == ["sabotage_mention"]
    assert [(p["index"], p["start"], p["end"], p["kind"], p["text"]) for p in record["passages"]] == [
        (0, 0, 5, "heading", "Title"),
        (1, 9, 42, "sentence", "Saboteurs cut the undersea cable."),
        (2, 43, 48, "sentence", "Fine."),
    ]
    assert record["alerts"]["sabotage_mention"] == {
        "alert": True,
        "max_score": record["passages"][1]["scores"]["sabotage_mention"],
        "threshold": Predictor.load(trained_version_dir).thresholds_for("en")["sabotage_mention"],
        "passages": [1],
    }


def test_predict_empty_text_document(trained_models_dir, tmp_path):
    document = tmp_path / "empty.txt"
    document.write_text(" \n\n", encoding="utf-8")
    out = run(["-m", "classifier", "predict", "--format", "text", "-i", str(document)], trained_models_dir)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", f"error: {document}: document is empty\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{bad", "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
        ('["x"]', "expected a JSON object, got list"),
        ('{"id": 2}', "missing field 'text'"),
        ('{"text": 5}', "field 'text' must be a string, got int"),
        ('{"text": "  "}', "field 'text' is empty"),
    ],
)
def test_predict_bad_line_exits_2(trained_models_dir, line, message):
    out = run(["-m", "classifier", "predict"], trained_models_dir, '{"text": "fine."}\n' + line + "\n")
    assert out.returncode == 2
    assert out.stderr == f"error: <stdin>:2: {message}\n"
    assert out.stdout == ""


def test_output_file_is_written_atomically(trained_models_dir, tmp_path):
    target = tmp_path / "out.jsonl"
    out = run(
        ["-m", "classifier", "predict", "-o", str(target)], trained_models_dir, '{"text": "We stand with Ukraine."}\n'
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert json.loads(target.read_text(encoding="utf-8"))["labels"] == ["support_statement"]

    failed = tmp_path / "failed.jsonl"
    out = run(["-m", "classifier", "predict", "-o", str(failed)], trained_models_dir, '{"text": "ok."}\n{bad\n')
    assert out.returncode == 2
    assert not failed.exists()
    # an existing file is left as it was when a run fails
    before = target.read_bytes()
    out = run(["-m", "classifier", "predict", "-o", str(target)], trained_models_dir, '{"text": "ok."}\n{bad\n')
    assert out.returncode == 2 and target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary files left


def test_missing_input_file(trained_models_dir, tmp_path):
    out = run(["-m", "classifier", "predict", "-i", str(tmp_path / "nope.jsonl")], trained_models_dir)
    assert (out.returncode, out.stderr) == (2, f"error: {tmp_path / 'nope.jsonl'}: no such file or directory\n")


def test_no_current_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")  # no bundled default model either
    out = run(["-m", "classifier", "predict"], tmp_path, '{"text": "x"}\n')
    assert out.returncode == 2
    assert out.stderr == f"error: no current model in {tmp_path}: train one with `python -m training train`\n"
    assert out.stdout == ""


def test_tampered_model_is_refused_by_the_cli(models_copy):
    version = (models_copy / "CURRENT").read_text().strip()
    scorer = models_copy / version / "scorer.npz"
    data = bytearray(scorer.read_bytes())
    data[-10] ^= 0xFF
    scorer.write_bytes(bytes(data))
    out = run(["-m", "classifier", "predict"], models_copy, '{"text": "x"}\n')
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {scorer}: sha256 ")
    assert out.stderr.endswith("; refusing to load\n")


def write_sample(path: Path, n: int = 300) -> Path:
    """A labelled sample of corpus rows (labels as annotated; labelled rows over-sampled)."""
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(1)
    labelled = [r for r in rows if r["labels"]]
    unlabelled = [r for r in rows if not r["labels"]]
    sample = rng.sample(labelled, n // 2) + rng.sample(unlabelled, n - n // 2)
    path.write_text("".join(json.dumps(r) + "\n" for r in sample), encoding="utf-8")
    return path


@pytest.mark.slow
def test_training_evaluate_writes_the_report(trained_version_dir, tmp_path):
    data = write_sample(tmp_path / "sample.jsonl")
    report = tmp_path / "report"
    out = run(
        [
            "-m",
            "training",
            "evaluate",
            "--model",
            str(trained_version_dir),
            "--data",
            str(data),
            "--report",
            str(report),
        ],
        tmp_path / "no-models",
        cwd=tmp_path,
    )
    assert (out.returncode, out.stderr) == (0, "")
    lines = out.stdout.splitlines()
    assert lines[0] == f"{trained_version_dir.name} on {data}:"
    assert lines[1] == f"{'label':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}{'avg prec':>10}"
    assert [line.split()[0] for line in lines[2:7]] == [*LABELS, "micro", "macro"]
    assert lines[-1] == f"report written to {report}"
    assert sorted(p.name for p in report.iterdir()) == [
        "REPORT.md",
        "by_language.png",
        "confusion_matrices.png",
        "pr_curves.png",
    ]
    for png in ("pr_curves.png", "confusion_matrices.png", "by_language.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    body = (report / "REPORT.md").read_text(encoding="utf-8")
    # the report is the model card (data, thresholds, known limits) plus this evaluation
    # the test model was trained on a slice of the corpus, not the bundled file: its card describes that data
    assert body.startswith(f"# Model card: text classifier, version `{trained_version_dir.name}`\n")
    for section in ("## Training data", "## Thresholds", "## Known limits"):
        assert f"\n{section}\n" in body
    evaluation = body.split(f"## Evaluation on `{data}`\n\n", 1)[1]
    assert evaluation.startswith("300 rows in ")
    for line in lines[2:5]:
        label, precision, recall, f1, support, _ = line.split()
        assert f"| {label} | {precision} | {recall} | {f1} | {support} |" in evaluation
    assert "training-fit figures" not in body  # a sample is not the whole training file
    # the sample was part of the training data: the fit on it is near perfect
    support = {line.split()[0]: int(line.split()[4]) for line in lines[2:5]}
    assert sum(support.values()) >= 150


def test_training_evaluate_with_tampered_model(models_copy, tmp_path):
    version = (models_copy / "CURRENT").read_text().strip()
    model = models_copy / version / "model.joblib"
    data = bytearray(model.read_bytes())
    data[200] ^= 0x01
    model.write_bytes(bytes(data))
    sample = write_sample(tmp_path / "sample.jsonl", 20)
    out = run(["-m", "training", "evaluate", "--data", str(sample), "--report", str(tmp_path / "r")], models_copy)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {model}: sha256 ") and out.stderr.endswith("; refusing to load\n")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_training_evaluate_judges_rows_as_served(trained_version_dir, tmp_path):
    """Each row with its language's thresholds; rows in a language the model does not read left out and
    counted (the service flags them), with per-language tables in the output and the report."""
    import numpy as np

    from classifier.artifacts import load_estimator
    from classifier.served_thresholds import threshold_matrix
    from tests.data.multilingual_sentences import RUSSIAN
    from training.data import load_dataset
    from training.evaluate import evaluate_model
    from training.metrics import compute_metrics

    data = write_sample(tmp_path / "sample.jsonl")
    russian = [{"text": t, "labels": labels, "doc": f"ru-{i}", "lang": "ru"} for i, (t, labels) in enumerate(RUSSIAN)]
    with open(data, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in russian))
    estimator, manifest = load_estimator(trained_version_dir)
    labels, supported = manifest["labels"], manifest["supported_languages"]
    assert "ru" not in supported and manifest["thresholds_by_language"]

    metrics, report = evaluate_model(trained_version_dir, data, tmp_path / "report")
    dataset = load_dataset(data, labels=labels, min_label_count=0)
    read = np.array([lang in supported for lang in dataset.langs])
    unread = [lang for lang in dataset.langs[~read]]
    assert metrics["unread_rows"] == {lang: unread.count(lang) for lang in set(unread)}
    assert metrics["unread_rows"]["ru"] >= len(RUSSIAN)
    langs = dataset.langs[read]
    global_thresholds = np.array([manifest["thresholds"][label] for label in labels])
    thresholds = threshold_matrix(labels, global_thresholds, manifest["thresholds_by_language"], {}, langs)
    P = estimator.predict_proba([t for t, keep in zip(dataset.texts, read, strict=True) if keep])
    expected = compute_metrics(dataset.Y[read], P, thresholds, labels)
    assert metrics["labels"] == expected["labels"] and metrics["macro"] == expected["macro"]
    assert metrics["by_language"]["en"]["rows"] == int((langs == "en").sum())
    body = (report / "REPORT.md").read_text(encoding="utf-8")
    assert "Rows in languages the model does not read, left out (the service flags them instead of deciding): " in body
    assert f"ru {metrics['unread_rows']['ru']}" in body
    assert f"**en** ({metrics['by_language']['en']['rows']} rows;" in body
