"""Old option names still work for one release: each prints a warning on stderr and gives the same result."""

from __future__ import annotations

import json

import pytest

from tests.cli_runner import run_cli
from training.cli import build_parser as training_parser


def warning(old: str, new: str) -> str:
    return f"warning: {old} is deprecated and will be removed in the next release; use {new}\n"


@pytest.fixture()
def jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    texts = ["Saboteurs cut the undersea cable.", "We stand with Ukraine.", "The meeting is on Tuesday."]
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_predict_jobs_is_processes_with_a_warning(trained_models_dir, jsonl, tmp_path):
    new = run_cli(["-m", "classifier", "predict", "-i", str(jsonl), "--processes", "1"], trained_models_dir)
    old = run_cli(["-m", "classifier", "predict", "-i", str(jsonl), "--jobs", "1"], trained_models_dir)
    assert (new.returncode, new.stderr) == (0, "")
    assert (old.returncode, old.stderr) == (0, warning("--jobs", "--processes"))
    assert old.stdout == new.stdout != ""


@pytest.mark.parametrize(
    ("old_option", "new_option", "value", "name"),
    [("--jobs", "--processes", "1", "in.jsonl"), ("--text-column", "--text-field", "body", "in.csv")],
)
def test_score_old_option_names_warn_and_score_the_same(
    trained_models_dir, tmp_path, old_option, new_option, value, name
):
    src = tmp_path / name
    if name.endswith(".csv"):
        src.write_text("id,body\n1,Saboteurs cut the undersea cable.\n2,We stand with Ukraine.\n", encoding="utf-8")
    else:
        src.write_text('{"text": "Saboteurs cut the undersea cable."}\n', encoding="utf-8")
    outputs = []
    for option, expected_err in ((new_option, ""), (old_option, warning(old_option, new_option))):
        out = tmp_path / f"out{len(outputs)}.jsonl"
        done = run_cli(
            ["-m", "classifier", "score", str(src), "-o", str(out), "--quiet", option, value],
            trained_models_dir,
        )
        assert (done.returncode, done.stderr) == (0, expected_err)
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] != ""


def test_training_train_jobs_is_processes_with_a_warning(capsys):
    assert training_parser().parse_args(["train"]).processes == 2
    assert capsys.readouterr().err == ""
    assert training_parser().parse_args(["train", "--processes", "1"]).processes == 1
    assert capsys.readouterr().err == ""
    assert training_parser().parse_args(["train", "--jobs", "1"]).processes == 1
    assert capsys.readouterr().err == warning("--jobs", "--processes")


def test_training_label_issues_jobs_is_processes_with_a_warning(capsys):
    assert training_parser().parse_args(["label-issues"]).processes == 2
    assert capsys.readouterr().err == ""
    assert training_parser().parse_args(["label-issues", "--jobs", "1"]).processes == 1
    assert capsys.readouterr().err == warning("--jobs", "--processes")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--chunk-size", "0", "argument --chunk-size: must be at least 1, got 0"),
        ("--max-record-bytes", "0", "argument --max-record-bytes: must be at least 1, got 0"),
        ("--evidence", "-1", "argument --evidence: must be 0 or more, got -1"),
    ],
)
def test_out_of_range_options_are_usage_errors(trained_models_dir, jsonl, tmp_path, option, value, message):
    done = run_cli(
        ["-m", "classifier", "score", str(jsonl), "-o", str(tmp_path / "o.jsonl"), option, value], trained_models_dir
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"python -m classifier score: error: {message}"
    assert not (tmp_path / "o.jsonl").exists()
