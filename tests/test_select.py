"""Selection of passages worth labelling: margins, the three strategies, the pool reader and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from classifier.config import DEFAULT_LABELS
from classifier.estimator import AlertClassifier
from classifier.predictor import Predictor
from classifier.records import RecordError
from classifier.scorer import LinearScorer
from training.cli import main
from training.pool import read_pool
from training.select import DEFAULT_STRATEGY, rank_rows, select, threshold_margins

TRAIN = [
    ("Saboteurs cut the undersea data cable near the island.", ["sabotage_mention"]),
    ("Arsonists set fire to the rail signal box overnight.", ["sabotage_mention"]),
    ("Investigators suspect sabotage after the pipeline blast.", ["sabotage_mention"]),
    ("Police foiled a plot to blow up the power substation.", ["sabotage_mention"]),
    ("We stand with Ukraine and will keep sending aid.", ["support_statement"]),
    ("The minister pledged further military support to Kyiv.", ["support_statement"]),
    ("Our solidarity with the Ukrainian people is unwavering.", ["support_statement"]),
    ("The council approved a new aid package for Ukraine.", ["support_statement"]),
    ("Officials warned of a hybrid campaign of disinformation.", ["hybrid_threat_warning"]),
    ("Cyber attacks on election systems threaten our democracy.", ["hybrid_threat_warning"]),
    ("GPS jamming over the Baltic is a form of hybrid pressure.", ["hybrid_threat_warning"]),
    ("The agency warned that foreign actors spread disinformation.", ["hybrid_threat_warning"]),
    ("The weather was mild across the region on Tuesday.", []),
    ("The football team won the cup final on penalties.", []),
    ("A new museum of modern art opened in the capital.", []),
    ("Farmers expect a good harvest of wheat this year.", []),
]


@pytest.fixture(scope="module")
def tiny() -> Predictor:
    """A predictor fitted in a second on the sentences above (word and character n-grams, min_df 1)."""
    texts = [text for text, _ in TRAIN] * 2
    Y = np.array([[label in labels for label in DEFAULT_LABELS] for _, labels in TRAIN] * 2, dtype=int)
    estimator = AlertClassifier(min_df=1, char_features=300).fit(texts, Y, labels=list(DEFAULT_LABELS))
    estimator.set_thresholds([0.5, 0.4, 0.6])
    return Predictor(LinearScorer.from_estimator(estimator), {"version": "tiny"})


def test_margins_are_logit_distances_to_the_nearest_threshold():
    P = np.array([[0.5, 0.1, 0.9], [0.9, 0.3, 0.2]])
    margins, nearest = threshold_margins(P, np.array([0.5, 0.2, 0.6]))
    assert margins[0] == pytest.approx(0.0, abs=1e-9)
    assert nearest.tolist() == [0, 1]
    # row 2: |logit 0.3 - logit 0.2| = log(3/7 * 4) = 0.5390; the others are larger
    assert margins[1] == pytest.approx(np.log(0.3 / 0.7) - np.log(0.2 / 0.8), abs=1e-9)


def test_margin_strategy_ranks_least_margin_first_ties_in_input_order():
    P = np.array([[0.9], [0.52], [0.45], [0.52], [0.2]])
    assert rank_rows(P, [0.5], 5, "margin").tolist() == [1, 3, 2, 4, 0]
    assert rank_rows(P, [0.5], 2, "margin").tolist() == [1, 3]


def test_random_strategy_is_seeded():
    P = np.full((50, 1), 0.5)
    first = rank_rows(P, [0.5], 10, "random", seed=3).tolist()
    assert first == rank_rows(P, [0.5], 10, "random", seed=3).tolist()
    assert first != rank_rows(P, [0.5], 10, "random", seed=4).tolist()
    assert len(set(first)) == 10
    assert sorted(rank_rows(P, [0.5], 80, "random").tolist()) == list(range(50))


def test_diverse_skips_near_duplicates_and_caps_documents_then_fills():
    P = np.array([[0.50], [0.51], [0.52], [0.53], [0.54], [0.55]])
    # rows 0 and 1 are the same vector; rows 2, 3, 4 share one document
    features = csr_matrix(
        np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]])
    )
    documents = ["a", "b", "c", "c", "c", "d"]
    kw = {"features": features.astype(float), "documents": documents, "max_per_document": 2}
    # 0 first; 1 duplicates 0; 2 and 3 fill document c; 4 is the third of c; 5 duplicates 2
    assert rank_rows(P, [0.5], 3, "diverse", **kw).tolist() == [0, 2, 3]
    assert rank_rows(P, [0.5], 6, "diverse", **kw).tolist() == [0, 2, 3, 1, 4, 5]


def test_select_returns_ranked_rows_with_the_models_view(tiny):
    rows = [
        {"id": "r1", "text": "Saboteurs blew up the gas pipeline.", "doc": "d1", "extra": 7},
        {"id": "r2", "text": "We stand with Ukraine.", "doc": "d1"},
        {"id": "r3", "text": "The harvest was good.", "doc": "d2"},
        {"id": "r4", "text": "Officials warned of disinformation.", "doc": "d3"},
    ]
    picks = select(tiny, rows, 3, "margin")
    assert [p["rank"] for p in picks] == [1, 2, 3]
    expected = tiny.predict_texts([r["text"] for r in rows])
    margins = [p["margin"] for p in picks]
    assert margins == sorted(margins)
    for pick in picks:
        source = next(r for r in rows if r["id"] == pick["id"])
        assert {k: pick[k] for k in source} == source
        i = rows.index(source)
        assert pick["scores"] == expected[i]["scores"]
        assert pick["model_labels"] == expected[i]["labels"]
        assert pick["strategy"] == "margin"
        assert pick["nearest_label"] in DEFAULT_LABELS
    assert rows[0] == {"id": "r1", "text": "Saboteurs blew up the gas pipeline.", "doc": "d1", "extra": 7}


def test_select_default_strategy_and_errors(tiny):
    rows = [{"text": f"Sentence number {i} about aid to Ukraine."} for i in range(12)]
    picks = select(tiny, rows, 5)
    assert len(picks) == 5 and all(p["strategy"] == DEFAULT_STRATEGY for p in picks)
    assert select(tiny, [], 5) == []
    with pytest.raises(ValueError, match="unknown strategy 'best'; strategies are random, margin, diverse"):
        select(tiny, rows, 5, "best")
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        select(tiny, rows, 0)


def test_pool_segments_documents_keeping_id_and_offsets(tmp_path):
    doc = "Saboteurs cut the cable. We stand with Ukraine."
    path = tmp_path / "pool.jsonl"
    path.write_text(
        json.dumps({"id": "doc-1", "text": doc, "source": "x"}) + "\n\n" + json.dumps({"text": "One sentence."}) + "\n"
    )
    rows = read_pool(path)
    assert rows == [
        {"source": "x", "id": "doc-1#0", "document_id": "doc-1", "passage_index": 0, "start": 0, "end": 24,
         "kind": "sentence", "text": "Saboteurs cut the cable."},
        {"source": "x", "id": "doc-1#1", "document_id": "doc-1", "passage_index": 1, "start": 25, "end": 47,
         "kind": "sentence", "text": "We stand with Ukraine."},
        {"text": "One sentence.", "id": "line-3"},
    ]  # fmt: skip
    assert [doc[r["start"] : r["end"]] for r in rows[:2]] == [r["text"] for r in rows[:2]]
    assert [r["id"] for r in read_pool(path, passages="never")] == ["doc-1", "line-3"]
    assert [r["id"] for r in read_pool(path, passages="always")] == ["doc-1#0", "doc-1#1", "line-3#0"]


def test_pool_csv_and_text_documents(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text('id,text\n1,"A first, quoted\nline."\n\n2,Second.\n')
    assert read_pool(path, passages="never") == [
        {"id": "1", "text": "A first, quoted\nline."},
        {"id": "2", "text": "Second."},
    ]
    txt = tmp_path / "statement.txt"
    txt.write_text("Heading\n\nFirst sentence. Second sentence.\n")
    rows = read_pool(txt)
    assert [(r["id"], r["kind"], r["text"]) for r in rows] == [
        ("statement.txt#0", "heading", "Heading"),
        ("statement.txt#1", "sentence", "First sentence."),
        ("statement.txt#2", "sentence", "Second sentence."),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.jsonl", '{"text": "ok"}\n{"text": ""}\n', "p.jsonl:2: field 'text' is empty"),
        ("p.jsonl", '{"text": "ok"}\n[1]\n', "p.jsonl:2: expected a JSON object, got list"),
        ("p.jsonl", '{"text": "ok"\n', "p.jsonl:1: invalid JSON: Expecting ',' delimiter (column 1)"),
        ("p.jsonl", "", "p.jsonl: no rows: the file is empty"),
        ("p.csv", "id,text\n1,ok\n2\n", "p.csv:3: expected 2 fields, got 1"),
        ("p.csv", "id,text\n1,ok,extra\n", "p.csv:2: expected 2 fields, got 3"),
        ("p.csv", "id,body\n1,ok\n", "p.csv:1: no column 'text' in the header (columns: id, body)"),
        ("p.csv", "id,text\n1, \n", "p.csv:2: column 'text' is empty"),
    ],
)
def test_pool_errors_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(RecordError) as caught:
        read_pool(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_cli_select_writes_k_ranked_rows(tiny, tmp_path, capsys):
    from classifier.artifacts import VersionWriter

    models = tmp_path / "models"
    with VersionWriter(models, "20260101T000000Z-00000000") as writer:
        estimator = AlertClassifier(min_df=1, char_features=300).fit(
            [t for t, _ in TRAIN] * 2,
            np.array([[label in ls for label in DEFAULT_LABELS] for _, ls in TRAIN] * 2, dtype=int),
            labels=list(DEFAULT_LABELS),
        )
        writer.write_model(estimator)
        version_dir = writer.commit(
            {
                "created": "2026-01-01T00:00:00+00:00",
                "labels": list(DEFAULT_LABELS),
                "thresholds": dict.fromkeys(DEFAULT_LABELS, 0.5),
            }
        )
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": i, "text": f"Aid number {i} reached Kyiv."}) + "\n" for i in range(20)))
    out = tmp_path / "picked.jsonl"
    code = main(["select", "--pool", str(pool), "--k", "4", "--model", str(version_dir), "--output", str(out)])
    assert code == 0
    picked = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["rank"] for p in picked] == [1, 2, 3, 4]
    assert all(p["model_version"] == "20260101T000000Z-00000000" for p in picked)
    assert capsys.readouterr().err == f"4 of 20 passages picked (diverse) and written to {out}\n"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"id": 2}\n')
    assert main(["select", "--pool", str(bad), "--k", "4", "--model", str(version_dir), "--output", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {bad}:2: missing field 'text'\n"
    assert main(["select", "--pool", str(pool), "--k", "0", "--model", str(version_dir)]) == 2
    assert capsys.readouterr().err == "error: --k must be at least 1, got 0\n"
    assert len(out.read_text().splitlines()) == 4  # the failed runs left the earlier output alone
