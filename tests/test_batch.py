"""Tests of `python -m classifier score`: input formats, order with --processes, bad lines, kill-safety, Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from itertools import cycle, islice
from pathlib import Path

import pytest

from classifier.batch import Item, ScoreOptions, iter_chunks, read_csv, read_jsonl, score_chunk
from classifier.cli import main
from classifier.config import CORPUS_PATH, PROJECT_ROOT

DOC = (
    "Ministry update.\n\n"
    "Residents should report any suspicious drone to the police. The saboteurs damaged the railway line "
    "near the depot.\n- Stay calm and follow official channels.\n"
)


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in islice(handle, 400)]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def score(*argv) -> int:
    return main(["score", "--quiet", *map(str, argv)])


def test_jsonl_echoes_fields_and_matches_predictor(tmp_path, trained_version_dir, predictor, sentences):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t, "meta": {"k": i}} for i, t in enumerate(sentences)])
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", trained_version_dir) == 0
    rows = read_out(out)
    expected = predictor.predict_documents(sentences, passages="auto", evidence_top_k=0)
    assert [r["id"] for r in rows] == list(range(len(sentences)))
    assert all(r["meta"] == {"k": r["id"]} and "text" not in r for r in rows)
    assert [r["labels"] for r in rows] == [e["labels"] for e in expected]
    assert [r["scores"] for r in rows] == [e["scores"] for e in expected]
    assert all(r["model_version"] == predictor.version for r in rows)


def test_csv_input_and_csv_output(tmp_path, trained_version_dir, predictor):
    src = tmp_path / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body", "note"])
        writer.writerow(["a", "The saboteurs blew up the railway bridge last night.", "x"])
        writer.writerow(["b", DOC, "multi\nline"])  # quoted newlines: one record over several lines
        writer.writerow(["c", "We thank our partners for their steadfast support.", ""])
    out = tmp_path / "out.csv"
    assert score(src, "-o", out, "--text-field", "body", "--model", trained_version_dir) == 0
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = predictor.labels
    assert list(rows[0]) == [
        "id",
        "note",
        "labels",
        *(f"score_{x}" for x in labels),
        "language",
        "unsupported_languages",
        "passages",
        "model_version",
    ]
    assert [r["id"] for r in rows] == ["a", "b", "c"] and rows[1]["note"] == "multi\nline"
    texts = [
        "The saboteurs blew up the railway bridge last night.",
        DOC,
        "We thank our partners for their steadfast support.",
    ]
    expected = predictor.predict_documents(texts, passages="auto", evidence_top_k=0)
    for row, exp in zip(rows, expected, strict=True):
        assert row["labels"] == "|".join(exp["labels"])
        assert [float(row[f"score_{x}"]) for x in labels] == [exp["scores"][x] for x in labels]
    passages = json.loads(rows[1]["passages"])  # a multi-passage document: alert passages with offsets
    assert passages and all(p["labels"] for p in passages)
    assert all(DOC[p["start"] : p["end"]] == p["text"] for p in passages)
    # one passage: listed like any other (the shape does not depend on the passage count), with offsets
    for i in (0, 2):
        passage = {
            "index": 0,
            "start": 0,
            "end": len(texts[i]),
            "kind": "sentence",
            "text": texts[i],
            "language": "en",
            "supported": True,
            "labels": expected[i]["labels"],
            "scores": expected[i]["scores"],
        }
        assert json.loads(rows[i]["passages"]) == [passage]  # an alert passage: its label fired
    assert expected[0]["labels"] == ["sabotage_mention"] and expected[2]["labels"] == ["support_statement"]


def test_txt_folder_documents(tmp_path, trained_version_dir):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "b.txt").write_text(DOC, encoding="utf-8")
    (docs / "sub" / "a.txt").write_text("Thank you for the support.", encoding="utf-8")
    (docs / "ignored.md").write_text("not a document", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert score(docs, "-o", out, "--model", trained_version_dir) == 0
    rows = read_out(out)
    assert [r["source"] for r in rows] == ["b.txt", "sub/a.txt"]
    assert all("passages" in r for r in rows)  # documents: passages always computed
    assert all(p["labels"] and DOC[p["start"] : p["end"]] == p["text"] for p in rows[0]["passages"])
    assert set(rows[0]["labels"]) == {x for p in rows[0]["passages"] for x in p["labels"]}
    out_all = tmp_path / "all.jsonl"
    assert score(docs, "-o", out_all, "--model", trained_version_dir, "--all-passages", "--evidence", "2") == 0
    everything = read_out(out_all)[0]["passages"]
    assert len(everything) >= len(rows[0]["passages"]) and [p["index"] for p in everything] == list(
        range(len(everything))
    )


@pytest.mark.slow
def test_jobs_2_preserves_order_and_equals_single_process(tmp_path, trained_version_dir, sentences):
    records = [{"n": i, "text": t} for i, t in enumerate(islice(cycle([*sentences, DOC]), 3000))]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert score(src, "-o", one, "--model", trained_version_dir, "--chunk-size", "97") == 0
    assert score(src, "-o", two, "--model", trained_version_dir, "--chunk-size", "97", "--processes", "2") == 0
    assert one.read_bytes() == two.read_bytes()
    assert [r["n"] for r in read_out(two)] == list(range(3000))


BAD_LINES = [
    '{"id": 1, "text": "The saboteurs blew up the railway bridge."}',
    "this is not json",
    '{"id": 3, "body": "no text field"}',
    "",
    '{"id": 5, "text": "   "}',
    '["not", "an", "object"]',
    '{"id": 7, "text": "Thank you for the support."}',
]


def test_bad_lines_fatal_by_default(tmp_path, trained_version_dir, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(BAD_LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", trained_version_dir) == 2
    assert f"{src}:2: invalid JSON" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no output, no temp file


@pytest.mark.parametrize("processes", ["1", pytest.param("2", marks=pytest.mark.slow)])  # 2: a pool of processes
def test_bad_lines_skipped_are_reported(tmp_path, trained_version_dir, capsys, processes):
    src = tmp_path / "in.jsonl"
    src.write_bytes(("\n".join(BAD_LINES) + "\n").encode() + b'{"id": 8, "text": "caf\xe9"}\n')
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    code = score(
        src,
        "-o",
        out,
        "--model",
        trained_version_dir,
        "--on-error",
        "skip",
        "--errors",
        errors,
        "--processes",
        processes,
        "--chunk-size",
        "2",
    )
    assert code == 3
    assert [r["id"] for r in read_out(out)] == [1, 7]
    err = capsys.readouterr().err
    bad = [
        (2, "invalid JSON"),
        (3, "missing field 'text'"),
        (5, "field 'text' is empty"),
        (6, "expected a JSON object"),
        (8, "invalid UTF-8"),
    ]
    for line, message in bad:
        assert f"{src}:{line}: {message}" in err
    assert "5 bad record(s) skipped" in err
    assert [(e["line"], e["source"]) for e in read_out(errors)] == [(line, str(src)) for line, _ in bad]


def test_bad_csv_rows_and_missing_column(tmp_path, trained_version_dir, capsys):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"Thank you for the support."\n2\n3,\n4,"Railway sabotage."\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", trained_version_dir, "--on-error", "skip") == 3
    assert [r["id"] for r in read_out(out)] == ["1", "4"]
    err = capsys.readouterr().err
    assert f"{src}:3: expected 2 fields, got 1" in err and f"{src}:4: column 'text' is empty" in err
    assert score(src, "-o", out, "--model", trained_version_dir, "--text-field", "body") == 2
    assert capsys.readouterr().err == f"error: {src}:1: no column 'body' in the header (columns: id, text)\n"
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert score(empty, "-o", out, "--model", trained_version_dir) == 2
    assert capsys.readouterr().err == f"error: {empty}:1: empty CSV file: a header row is needed\n"


def test_readers_are_lazy_and_chunks_bounded(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"t{i}"} for i in range(10)])
    items = read_jsonl(str(src))
    first = next(items)
    assert isinstance(first, Item) and first.line == 1
    assert [len(c) for c in iter_chunks(items, 4)] == [4, 4, 1]
    csv_src = tmp_path / "in.csv"
    csv_src.write_text('text,x\n"a\nb",1\nc,2\n', encoding="utf-8")
    assert [(i.line, i.raw) for i in read_csv(str(csv_src))] == [
        (2, {"text": "a\nb", "x": "1"}),
        (4, {"text": "c", "x": "2"}),
    ]


def test_score_chunk_counts(predictor):
    items = [Item("jsonl", "s", 1, '{"text": "Sabotage on the railway."}', 10), Item("jsonl", "s", 2, "{", 1)]
    result = score_chunk(predictor, items, ScoreOptions())
    assert result.records == 1 and result.nbytes == 11 and [e.line for e in result.errors] == [2]


def _env(models_dir) -> dict:
    return {**os.environ, "HTA_MODELS_DIR": str(models_dir), "PYTHONPATH": str(PROJECT_ROOT)}


@pytest.mark.slow
def test_killed_run_leaves_no_output(tmp_path, trained_models_dir, sentences):
    src = tmp_path / "big.jsonl"
    write_jsonl(src, ({"text": t} for t in islice(cycle(sentences), 400_000)))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "classifier",
            "score",
            str(src),
            "-o",
            str(out),
            "--quiet",
            "--processes",
            "2",
            "--chunk-size",
            "500",
        ],
        cwd=PROJECT_ROOT,
        env=_env(trained_models_dir),
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    partial = []
    while time.monotonic() < deadline and proc.poll() is None:  # wait until output is being written
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.") and p.stat().st_size > 0]
        if partial:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    assert partial, "the scorer wrote nothing within 30 s"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not out.exists()
    assert all(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir() if p != src)
    proc.stderr.close()


@pytest.mark.slow
def test_sigterm_removes_temp_output(tmp_path, trained_models_dir, sentences):
    src = write_jsonl(tmp_path / "big.jsonl", ({"text": t} for t in islice(cycle(sentences), 200_000)))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "classifier", "score", str(src), "-o", str(out), "--quiet"],
        cwd=PROJECT_ROOT,
        env=_env(trained_models_dir),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    proc.terminate()
    assert proc.wait(timeout=20) != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl"]


@pytest.mark.slow
def test_dask_local_cluster_equals_single_process(tmp_path, trained_version_dir, sentences):
    records = [{"n": i, "text": t} for i, t in enumerate(islice(cycle([*sentences, DOC]), 2500))]
    records.insert(1000, {"n": "bad"})
    src = write_jsonl(tmp_path / "in.jsonl", records)
    single, parts = tmp_path / "single.jsonl", tmp_path / "dask-out"
    common = ["--model", trained_version_dir, "--on-error", "skip", "--chunk-size", "300"]
    assert score(src, "-o", single, *common) == 3
    assert score(src, "-o", parts, *common, "--dask-local", "2", "--partition-size", "1000") == 3
    summary = json.loads((parts / "_SUCCESS.json").read_text())
    assert summary["records"] == 2500 and summary["skipped"] == 1
    names = sorted(p.name for p in parts.glob("part-*.jsonl"))
    assert names == summary["parts"] and len(names) == 3
    merged = [row for name in names for row in read_out(parts / name)]
    assert merged == read_out(single)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dask-out")]
