"""Issue 22 items 4-6 through HTTP only: two analysts and an adjudicator, overlap 2, agreement figures
checked against a hand computation, disagreements, adjudication and what a retrain then learns."""

from __future__ import annotations

import json
import sqlite3

import pytest

from service.analysts import add_analyst
from tests.conftest import ADMIN

H, S, P = "hybrid_threat_warning", "sabotage_mention", "support_statement"
# Ten passages written for this test, and the labels the two analysts give them. They disagree on
# passages 2 (H), 4 (H), 6 (P) and 10 (S).
PASSAGES = [
    ("Officials say the leaflets are part of a foreign influence operation.", [H], [H]),
    ("Ministers warned the fake videos aim to split the coalition.", [H], []),
    ("Police found the signal cables at the depot had been cut on purpose.", [S], [S]),
    ("Arsonists set fire to the relay station, and officials call it hybrid pressure.", [S], [S, H]),
    ("The parliament voted to send more generators to Kharkiv.", [P], [P]),
    ("The mayor thanked volunteers who collected blankets for refugees.", [P], []),
    ("The bakery on Main Street opens an hour earlier in summer.", [], []),
    ("Rain is expected across the north on Thursday.", [], []),
    ("We stand with our neighbours against this campaign of lies.", [H, P], [H, P]),
    ("A worker reported a suspicious device under the rail bridge.", [S], []),
]
DISAGREEING = {PASSAGES[i][0] for i in (1, 3, 5, 9)}
# The adjudicator's final labels of the four.
ADJUDICATED = {PASSAGES[1][0]: [H], PASSAGES[3][0]: [S], PASSAGES[5][0]: [], PASSAGES[9][0]: [S]}

# Hand computation (10 passages, both analysts labelled all of them, so every pair has 10 decisions):
#
# hybrid_threat_warning: ana says yes on 1, 2, 9; bo on 1, 4, 9. They agree on 8 of 10: p_o = 0.8.
#   Chance: each says yes 3/10 times, p_e = 0.3*0.3 + 0.7*0.7 = 0.58. kappa = (0.8-0.58)/(1-0.58) = 0.22/0.42 = 11/21.
#   Krippendorff (nominal, 2 coders, n = 20 values: 6 yes, 14 no; 2 units disagree, each giving o_yes,no =
#   o_no,yes = 1): alpha = 1 - (n-1) * (o_yn + o_ny) / (2 * n_y * n_n) = 1 - 19*4/(2*6*14) = 1 - 76/168 = 23/42.
# sabotage_mention: ana yes on 3, 4, 10; bo on 3, 4. p_o = 0.9; p_e = 0.3*0.2 + 0.7*0.8 = 0.62;
#   kappa = 0.28/0.38 = 14/19. Values: 5 yes, 15 no, 1 unit disagrees: alpha = 1 - 19*2/(2*5*15) = 1 - 38/150 = 56/75.
# support_statement: ana yes on 5, 6, 9; bo on 5, 9: the same counts as sabotage_mention: 14/19 and 56/75.
KAPPA = {H: 11 / 21, S: 14 / 19, P: 14 / 19}
ALPHA = {H: 23 / 42, S: 56 / 75, P: 56 / 75}
# Agreement with the consensus: before adjudication the two disagreeing decisions of a passage tie and do not
# count: each analyst has 30 - 4 = 26 decisions, all matching. After it, the consensus is the adjudicated
# labels: ana is overruled once (passage 6, P): 29/30; bo three times (2 H, 4 H, 10 S): 27/30.


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def team(app_config, tmp_path):
    from service import create_app

    path = tmp_path / "analysts"
    tokens = {"ana": add_analyst(path, "ana", "analyst"), "bo": add_analyst(path, "bo", "analyst"),
              "cy": add_analyst(path, "cy", "adjudicator")}  # fmt: skip
    config = {**app_config, "ANALYSTS_FILE": str(path), "LABELS_OPEN": False, "QUEUE_OVERLAP": 2}
    app = create_app(config)
    client = app.test_client()
    answer = client.post("/v1/queue", json={"passages": [{"text": text} for text, _, _ in PASSAGES]},
                         headers=bearer(ADMIN))  # fmt: skip
    assert answer.status_code == 201 and answer.get_json()["added"] == 10
    return app, client, tokens, path


def label_everything(client, tokens) -> None:
    """Both analysts take their passages from the queue and label them as PASSAGES says."""
    for column, name in ((1, "ana"), (2, "bo")):
        answer = client.get("/v1/queue?limit=10", headers=bearer(tokens[name]))
        assert answer.status_code == 200
        items = answer.get_json()["items"]
        assert len(items) == 10  # overlap 2: each analyst is offered every passage
        wanted = {entry[0]: entry[column] for entry in PASSAGES}
        for item in items:
            answer = client.post(f"/v1/queue/{item['id']}/label", json={"labels": wanted[item["text"]]},
                                 headers=bearer(tokens[name]))  # fmt: skip
            assert answer.status_code == 200


def stored(app) -> tuple[list, list]:
    with app.extensions["hta_store"].connect() as conn:  # the app's store, either engine
        feedback = conn.execute("SELECT id, text, labels, annotator FROM feedback ORDER BY id").fetchall()
        adjudications = conn.execute(
            "SELECT passage, labels, adjudicator FROM adjudications ORDER BY passage"
        ).fetchall()
    return [tuple(row) for row in feedback], [tuple(row) for row in adjudications]


@pytest.mark.sqlite_only  # reads the SQLite file by its path
def test_two_analysts_an_adjudicator_agreement_disagreements_and_what_retraining_learns(team, tmp_path):
    from training.cli import main
    from training.feedback import passage_key, read_feedback, read_feedback_view

    app, client, tokens, _ = team
    label_everything(client, tokens)
    assert client.get("/v1/queue", headers=bearer(ADMIN)).get_json()["counts"]["labelled"] == 10

    answer = client.get("/v1/agreement", headers=bearer(tokens["cy"]))
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["passages"] == 10 and report["annotators"] == ["ana", "bo"]
    for label in (H, S, P):
        figures = report["labels"][label]
        assert figures["passages"] == 10
        assert figures["alpha"] == pytest.approx(ALPHA[label], abs=1e-12)
        [pair] = figures["pairs"]
        assert pair["annotators"] == ["ana", "bo"] and pair["passages"] == 10
        assert pair["kappa"] == pytest.approx(KAPPA[label], abs=1e-12)
    assert report["labels"][H]["pairs"][0]["observed_agreement"] == pytest.approx(0.8)
    assert report["consensus"] == {
        "ana": {"passages": 10, "decisions": 26, "agreed": 26, "agreement": 1.0},
        "bo": {"passages": 10, "decisions": 26, "agreed": 26, "agreement": 1.0},
    }
    assert client.get("/v1/agreement", headers=bearer(ADMIN)).status_code == 200  # the admin may read it too

    answer = client.get("/v1/disagreements", headers=bearer(tokens["cy"]))
    assert answer.status_code == 200
    listing = answer.get_json()
    assert listing["counts"] == {"all": 4, "unresolved": 4, "resolved": 0}
    assert {item["text"] for item in listing["items"]} == DISAGREEING
    by_text = {item["text"]: item for item in listing["items"]}
    fourth = by_text[PASSAGES[3][0]]
    assert [(a["annotator"], a["labels"]) for a in fourth["annotations"]] == [("ana", [S]), ("bo", [H, S])]
    assert fourth["disputed_labels"] == [H] and fourth["resolution"] is None
    assert fourth["id"] == passage_key(PASSAGES[3][0])

    # Before adjudication a retrain holds the four back and learns the six agreed passages.
    view = read_feedback_view(app.config["FEEDBACK_DB"])
    assert len(view.held_back) == 4 and len(view.records) == 6 and view.rows == 20
    assert {r["text"] for r in view.records} == {entry[0] for entry in PASSAGES} - DISAGREEING
    assert all(r["resolution"] == "agreed" and r["annotators"] == ["ana", "bo"] for r in view.records)

    for text, labels in ADJUDICATED.items():
        answer = client.post(f"/v1/disagreements/{by_text[text]['id']}/resolve", json={"labels": labels},
                             headers=bearer(tokens["cy"]))  # fmt: skip
        assert answer.status_code == 200
        body = answer.get_json()
        assert body["replaced"] is False
        assert body["item"]["resolution"]["labels"] == sorted(labels)
        assert body["item"]["resolution"]["adjudicator"] == "cy"
    listing = client.get("/v1/disagreements?state=unresolved", headers=bearer(tokens["cy"])).get_json()
    assert listing["counts"] == {"all": 4, "unresolved": 0, "resolved": 4} and listing["items"] == []

    report = client.get("/v1/agreement", headers=bearer(tokens["cy"])).get_json()
    assert report["consensus"]["ana"] == {"passages": 10, "decisions": 30, "agreed": 29, "agreement": 29 / 30}
    assert report["consensus"]["bo"] == {"passages": 10, "decisions": 30, "agreed": 27, "agreement": 0.9}
    assert report["labels"][H]["pairs"][0]["kappa"] == pytest.approx(KAPPA[H], abs=1e-12)  # annotators unchanged

    # What the retrain reads (training.retrain.run_retrain: read_feedback_view) and what export-feedback writes:
    # one row per passage, the adjudicated labels for the four, the agreed ones for the rest.
    records = read_feedback(app.config["FEEDBACK_DB"])
    expected = {text: sorted(ADJUDICATED.get(text, a)) for text, a, _ in PASSAGES}
    assert {r["text"]: r["labels"] for r in records} == expected
    assert sorted(r["resolution"] for r in records) == ["adjudicated"] * 4 + ["agreed"] * 6
    assert {r["adjudicator"] for r in records if r["resolution"] == "adjudicated"} == {"cy"}
    out = tmp_path / "feedback.jsonl"
    assert main(["export-feedback", "--db", str(app.config["FEEDBACK_DB"]), "--out", str(out)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == records


@pytest.mark.slow
@pytest.mark.sqlite_only  # reads the SQLite file by its path
def test_a_retrains_training_rows_carry_the_adjudicated_labels(team, monkeypatch):
    """The retrain itself (training.retrain.run_retrain), stopped when training starts: its dataset's feedback rows."""
    import training.train
    from service.config import load_config
    from service.retrain import retrain_settings
    from training.retrain import run_retrain

    app, client, tokens, _ = team
    label_everything(client, tokens)
    listing = client.get("/v1/disagreements", headers=bearer(tokens["cy"])).get_json()
    for item in listing["items"]:
        if item["text"] != PASSAGES[9][0]:  # passage 10 stays unresolved: held back
            answer = client.post(f"/v1/disagreements/{item['id']}/resolve", json={"labels": ADJUDICATED[item["text"]]},
                                 headers=bearer(tokens["cy"]))  # fmt: skip
            assert answer.status_code == 200

    seen = {}

    class Stop(Exception):
        pass

    def capture(**kwargs):
        seen["dataset"] = kwargs["dataset"]
        raise Stop

    monkeypatch.setattr(training.train, "train_model", capture)
    messages = []

    class Report:
        def progress(self, message):
            messages.append(message)

        def feedback_read(self, rows):
            seen["rows"] = rows

        def candidate_written(self, version):
            pass

    keys = ("FEEDBACK_DB", "MODELS_DIR", "RETRAIN_DATA", "RETRAIN_CV")
    settings = retrain_settings(load_config({key: app.config[key] for key in keys}))
    with pytest.raises(Stop):
        run_retrain(settings, Report())
    added = {e.text: e.labels for e in seen["dataset"].examples if e.added}
    expected = {text: sorted(ADJUDICATED.get(text, a)) for text, a, _ in PASSAGES if text != PASSAGES[9][0]}
    assert added == expected
    assert seen["rows"] == 9
    assert (
        messages[0]
        == "read 20 feedback rows: 9 passages to learn from, 1 held back (annotators disagree, not adjudicated)"
    )


@pytest.mark.parametrize(
    ("who", "status", "code", "message"),
    [
        (None, 401, "unauthorized", "missing bearer token"),
        ("unknown", 403, "forbidden", "invalid token"),
        ("ana", 403, "forbidden", "analyst 'ana' (role analyst) may not adjudicate (needs role adjudicator or admin)"),
    ],
)
def test_refused_callers_change_nothing(team, who, status, code, message):
    app, client, tokens, _ = team
    label_everything(client, tokens)
    before = stored(app)
    key = client.get("/v1/disagreements", headers=bearer(tokens["cy"])).get_json()["items"][0]["id"]
    headers = {} if who is None else bearer(tokens.get(who, "not-a-token-of-anyone"))
    for method, path in (("post", f"/v1/disagreements/{key}/resolve"), ("get", "/v1/disagreements"),
                         ("get", "/v1/agreement")):  # fmt: skip
        answer = getattr(client, method)(path, json={"labels": [H]} if method == "post" else None, headers=headers)
        assert answer.status_code == status
        assert answer.get_json() == {"error": {"code": code, "message": message}}
    assert stored(app) == before


def test_a_revoked_adjudicator_is_refused_and_nothing_is_lost(team):
    app, client, tokens, path = team
    label_everything(client, tokens)
    key = client.get("/v1/disagreements", headers=bearer(tokens["cy"])).get_json()["items"][0]["id"]
    before = stored(app)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith("cy ")))
    answer = client.post(f"/v1/disagreements/{key}/resolve", json={"labels": [H]}, headers=bearer(tokens["cy"]))
    assert answer.status_code == 403
    assert answer.get_json() == {"error": {"code": "forbidden", "message": "invalid token"}}
    assert stored(app) == before


def test_resolving_what_is_not_a_disagreement(team):
    from training.feedback import passage_key

    app, client, tokens, _ = team
    label_everything(client, tokens)
    before = stored(app)
    agreed = passage_key(PASSAGES[0][0])
    answer = client.post(f"/v1/disagreements/{agreed}/resolve", json={"labels": []}, headers=bearer(tokens["cy"]))
    assert answer.status_code == 409
    assert answer.get_json() == {"error": {"code": "no_disagreement", "message": f"passage {agreed} has no "
                                           "disagreement to resolve: its 2 annotators agree"}}  # fmt: skip
    unknown = passage_key("A passage nobody labelled.")
    answer = client.post(f"/v1/disagreements/{unknown}/resolve", json={"labels": []}, headers=bearer(tokens["cy"]))
    assert answer.status_code == 404
    assert answer.get_json() == {"error": {"code": "not_found", "message": f"passage {unknown} not found"}}
    answer = client.post("/v1/disagreements/xyz/resolve", json={"labels": []}, headers=bearer(tokens["cy"]))
    assert answer.status_code == 404
    assert answer.get_json() == {
        "error": {"code": "not_found", "message": "passage 'xyz' not found (ids are 64 lowercase hex digits)"}
    }
    key = passage_key(PASSAGES[1][0])
    answer = client.post(f"/v1/disagreements/{key}/resolve", json={"labels": ["no_such_label"]},
                         headers=bearer(tokens["cy"]))  # fmt: skip
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "unknown_label"
    answer = client.get("/v1/disagreements?state=later", headers=bearer(tokens["cy"]))
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": {"code": "invalid_request", "message": "state: must be one of 'all', 'unresolved', 'resolved'"}
    }
    assert stored(app) == before


def test_resolving_again_replaces_the_adjudication(team):
    from training.feedback import passage_key

    app, client, tokens, _ = team
    label_everything(client, tokens)
    key = passage_key(PASSAGES[1][0])
    first = client.post(f"/v1/disagreements/{key}/resolve", json={"labels": [H]}, headers=bearer(tokens["cy"]))
    second = client.post(f"/v1/disagreements/{key}/resolve", json={"labels": []}, headers=bearer(ADMIN))
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.get_json()["replaced"], second.get_json()["replaced"]) == (False, True)
    assert second.get_json()["item"]["resolution"]["adjudicator"] == "admin"
    _, adjudications = stored(app)
    assert adjudications == [(key, "[]", "admin")]


def test_a_database_made_before_adjudication_is_migrated_and_keeps_its_feedback(tmp_path):
    from service.store import Store
    from training.feedback import passage_key

    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:  # the feedback table as the first team release left it, no adjudications
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, text TEXT "
                     "NOT NULL, labels TEXT NOT NULL, document_id TEXT, model_version TEXT, source TEXT NOT NULL "
                     "DEFAULT 'api', source_project TEXT, source_ref TEXT, updated TEXT, annotator TEXT)")  # fmt: skip
        conn.executemany("INSERT INTO feedback (created, text, labels, annotator) VALUES ('2026-01-01', ?, ?, ?)",
                         [("Cables cut.", json.dumps([S]), "ana"), ("Cables cut.", "[]", "bo")])  # fmt: skip
    store = Store(db).init()
    passage, replaced = store.resolve_passage(passage_key("Cables cut."), [S], "cy")
    assert replaced is False and passage.adjudication["labels"] == [S]
    assert store.feedback_count() == 2


@pytest.mark.slow
@pytest.mark.sqlite_only  # reads the SQLite file by its path
def test_a_retrain_job_learns_the_adjudicated_labels_and_counts_what_it_held_back(team, monkeypatch):
    """The whole job (train, gate) on the test model's data: its verdict counts the unresolved disagreement and
    the candidate learned one row per resolved passage."""
    import service.retrain
    from classifier.artifacts import read_manifest
    from classifier.versions import find_version
    from service.config import load_config
    from service.jobs import run_job
    from service.retrain import retrain_settings

    app, client, tokens, _ = team
    label_everything(client, tokens)
    for item in client.get("/v1/disagreements", headers=bearer(tokens["cy"])).get_json()["items"]:
        if item["text"] != PASSAGES[9][0]:
            answer = client.post(f"/v1/disagreements/{item['id']}/resolve", json={"labels": ADJUDICATED[item["text"]]},
                                 headers=bearer(tokens["cy"]))  # fmt: skip
            assert answer.status_code == 200
    started: list[str] = []
    monkeypatch.setattr(
        service.retrain, "start_job_process", lambda job_id, config, store, shadow=0: started.append(job_id)
    )
    answer = client.post("/v1/retrain", headers=bearer(ADMIN))
    assert answer.status_code == 202 and started == [answer.get_json()["job"]["id"]]
    keys = ("FEEDBACK_DB", "MODELS_DIR", "RETRAIN_DATA", "RETRAIN_CV")
    job = run_job(started[0], retrain_settings(load_config({key: app.config[key] for key in keys})))
    assert job["state"] in ("succeeded", "rejected"), job["error"]
    assert job["feedback_rows"] == 9
    assert job["verdict"]["held_back_disagreements"] == 1
    assert job["progress"][0]["message"] == (
        "read 20 feedback rows: 9 passages to learn from, 1 held back (annotators disagree, not adjudicated)"
    )
    manifest = read_manifest(find_version(app.config["MODELS_DIR"], job["candidate_version"])[0])
    assert manifest["added_rows"]["rows"] == 9


def test_a_store_from_before_annotators_and_sources_is_read_row_by_row(tmp_path):
    """Training reads an old store as it is (no migration: it was not asked to write it): the columns added
    later read as NULL, so every row is anonymous and teaches its own labels, with no register."""
    from training.feedback import read_feedback_view

    db = tmp_path / "older.sqlite3"
    with sqlite3.connect(db) as conn:  # the feedback table before annotators and document sources
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, text TEXT "
                     "NOT NULL, labels TEXT NOT NULL, document_id TEXT, model_version TEXT)")  # fmt: skip
        conn.executemany("INSERT INTO feedback (created, text, labels, document_id) VALUES ('2026-01-01', ?, ?, ?)",
                         [("Cables cut.", json.dumps([S]), "d1"), ("Cables cut.", "[]", None)])  # fmt: skip
    before = db.read_bytes()
    view = read_feedback_view(db)
    assert [(r["id"], r["labels"], r["doc"], r["source"], r["resolution"]) for r in view.records] == [
        ("feedback-1", [S], "feedback-doc:d1", "feedback", "single"),
        ("feedback-2", [], "feedback-2", "feedback", "single"),
    ]
    assert (view.rows, view.held_back) == (2, [])
    assert db.read_bytes() == before
