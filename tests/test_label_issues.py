"""The label-error screen (issue 22 item 7): python -m training label-issues and GET /v1/label-issues."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import ADMIN

S = "sabotage_mention"


def flipped_copy(corpus_slice, tmp_path, n=5):
    """A copy of the slice in which the `n` sabotage_mention rows the clean screen is surest of lose the label
    (a test copy: the corpus itself is never relabelled); returns (path, the flipped ids)."""
    from training.data import load_dataset
    from training.label_issues import out_of_fold

    dataset = load_dataset(corpus_slice, min_label_count=0)
    oof = out_of_fold(dataset, cv=2, n_jobs=1)
    column = dataset.labels.index(S)
    only = [i for i, e in enumerate(dataset.examples) if e.labels == [S]]
    surest = sorted(only, key=lambda i: -oof[i, column])[:n]
    ids = {dataset.examples[i].id for i in surest}
    rows = [json.loads(line) for line in corpus_slice.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["id"] in ids:
            row["labels"] = []
    path = tmp_path / "flipped.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path, ids


@pytest.mark.slow
def test_rows_whose_label_was_removed_are_flagged_with_the_label_suggested(corpus_slice, tmp_path):
    from training.cli import main

    path, ids = flipped_copy(corpus_slice, tmp_path)
    out = tmp_path / "issues.jsonl"
    assert main(["label-issues", "--data", str(path), "--cv", "2", "--processes", "1", "--output", str(out)]) == 0
    issues = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {issue["id"]: issue for issue in issues}
    assert ids <= set(by_id)
    for row_id in ids:
        assert by_id[row_id]["given"] == [] and S in by_id[row_id]["suggested"]
    assert [issue["rank"] for issue in issues] == list(range(1, len(issues) + 1))
    qualities = [issue["quality"] for issue in issues]
    assert qualities == sorted(qualities)  # worst (lowest label quality) first
    assert all(issue["feedback"] is False for issue in issues)


@pytest.mark.slow
def test_the_screen_with_feedback_and_to_queue(app_config, corpus_slice, tmp_path, capsys):
    from service import create_app
    from training.cli import main

    app = create_app(app_config)
    client = app.test_client()
    wrong = "Saboteurs blew up the gas pipeline under the sea."  # a test sentence, given no label on purpose
    answer = client.post(
        "/v1/feedback", json={"text": wrong, "labels": []}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 201
    db = str(app.config["FEEDBACK_DB"])
    out = tmp_path / "issues.jsonl"
    argv = ["label-issues", "--data", str(corpus_slice), "--cv", "2", "--processes", "1", "--db", db, "--feedback",
            "--top", "3", "--output", str(out), "--to-queue", "3"]  # fmt: skip
    assert main(argv) == 0
    issues = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(issues) == 3
    err = capsys.readouterr().err
    assert "feedback: 1 passages, 0 held back (unresolved disagreements)" in err
    assert "3 of the top 3 queued for a second look" in err
    with sqlite3.connect(db) as conn:
        queued = [row[0] for row in conn.execute("SELECT text FROM queue_items WHERE state = 'pending' ORDER BY id")]
    assert queued == [issue["text"].strip() for issue in issues]
    assert (
        client.get("/v1/feedback", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()["items"][0]["labels"] == []
    )  # the screen relabels nothing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--feedback"], "error: --feedback and --to-queue need --db (the service's SQLite file, HTA_FEEDBACK_DB)\n"),
        (
            ["--to-queue", "5"],
            "error: --feedback and --to-queue need --db (the service's SQLite file, HTA_FEEDBACK_DB)\n",
        ),
        (["--cv", "1"], "error: --cv must be at least 2\n"),
    ],
)
def test_bad_options(argv, message, capsys):
    from training.cli import main

    assert main(["label-issues", *argv]) == 2
    assert capsys.readouterr().err == message


@pytest.mark.slow
def test_the_route_lists_feedback_rows_the_model_contradicts(app_config, tmp_path):
    from service import create_app
    from service.analysts import add_analyst

    path = tmp_path / "analysts"
    analyst = add_analyst(path, "ana", "analyst")
    app = create_app({**app_config, "ANALYSTS_FILE": str(path), "RETRAIN_CV": 2})
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    texts = ["Saboteurs blew up the gas pipeline under the sea.", "Saboteurs cut the undersea data cable."]
    answer = client.post("/v1/feedback", json={"items": [{"text": t, "labels": []} for t in texts]}, headers=admin)
    assert answer.status_code == 201

    answer = client.get("/v1/label-issues?limit=5", headers=admin)
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["scope"] == "feedback" and report["labels"] == ["hybrid_threat_warning", S, "support_statement"]
    assert report["rows"] == 1380 + 2
    assert all(issue["feedback"] for issue in report["issues"])
    assert len(report["issues"]) == report["flagged_feedback"] <= 2
    everything = client.get("/v1/label-issues?scope=all&limit=500", headers=admin).get_json()
    assert len(everything["issues"]) == min(500, everything["flagged"])

    answer = client.get("/v1/label-issues", headers={"Authorization": f"Bearer {analyst}"})
    assert answer.status_code == 403
    assert answer.get_json() == {
        "error": {"code": "forbidden", "message": "analyst 'ana' (role analyst) may not use admin routes"}
    }
    answer = client.get("/v1/label-issues?limit=0", headers=admin)
    assert answer.status_code == 400
    assert answer.get_json() == {"error": {"code": "invalid_request", "message": "limit: must be an integer 1..500"}}
