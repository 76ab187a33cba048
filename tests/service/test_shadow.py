"""Shadow runs (issue 24): a second version scores live traffic beside the served one, never changing an
answer; GET /v1/shadow compares their decisions; bad runs are refused with JSON 4xx naming the problem."""

from __future__ import annotations

import queue
import time

import pytest

from classifier.predictor import Predictor
from service import metrics
from tests.bundled_copies import copy_version, corrupt
from tests.conftest import ADMIN
from tests.small_model import unseen_corpus_texts

SHADOW = "shadow-candidate"
TEXTS = [
    "Saboteurs cut the undersea cable and blew up the gas pipeline.",
    "We stand with Ukraine and will keep supporting its people.",
    "Officials warn of hybrid attacks on the power grid this winter. The minister met the press.",
    "The weather was mild on Tuesday.",
    "Drones were seen over the airport before the fire at the depot.",
]
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def shadow_app(app_config):
    """An app on the small test model with a second, different version beside it: a copy of the bundled model."""
    from service import create_app

    copy_version(app_config["MODELS_DIR"], SHADOW)
    return create_app(app_config)


def _wait_for(client, requests: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        report = client.get("/v1/shadow", headers=AUTH).get_json()
        if report["requests"] >= requests:
            return report
        time.sleep(0.1)
    raise AssertionError(f"the shadow scorer did not take {requests} requests: {report}")


def _disagreeing_rows(shadow: Predictor, served: Predictor, n: int) -> list[str]:
    """Corpus rows (unseen by the test model) the two versions decide differently, found now, not written down."""
    texts = unseen_corpus_texts(300)
    mine, theirs = served.score_documents(texts, "never"), shadow.score_documents(texts, "never")
    return [text for text, a, b in zip(texts, mine, theirs, strict=True) if a.labels != b.labels][:n]


@pytest.mark.slow
def test_a_shadow_version_scores_live_traffic_without_changing_an_answer(shadow_app, predictor):
    client = shadow_app.test_client()
    shadow = Predictor.load(shadow_app.config["MODELS_DIR"] / SHADOW)
    differing = _disagreeing_rows(shadow, predictor, 3)
    assert len(differing) == 3
    bodies = [{"text": text} for text in TEXTS + differing]
    bodies.append({"documents": [{"id": 1, "text": TEXTS[2], "source": "wire"}]})
    before = [client.post("/v1/predict", json=body).get_json() for body in bodies]

    started = client.post(f"/v1/models/{SHADOW}/shadow", json={"share": 1.0}, headers=AUTH)
    assert started.status_code == 201
    run = started.get_json()["run"]
    assert run["version"] == SHADOW and run["share"] == 1.0 and run["passages"] is None
    assert run["current_version"] == before[0]["model_version"]
    assert started.headers["Location"] == "/v1/shadow"

    during = [client.post("/v1/predict", json=body).get_json() for body in bodies]
    assert during == before  # the shadow's answers are never returned
    report = _wait_for(client, len(bodies))
    assert report["state"] == "running" and report["requests"] == len(bodies) and report["skipped_requests"] == 0

    expected = {label: [0, 0, 0] for label in shadow.labels}
    passages = 0
    for body, answer in zip(bodies, before, strict=True):
        texts = [body["text"]] if "text" in body else [doc["text"] for doc in body["documents"]]
        theirs = shadow.score_documents(texts, "always", source=[d.get("source") for d in body.get("documents", [{}])])
        for mine, other in zip(answer["results"], theirs, strict=True):
            for live, shadow_passage in zip(mine["passages"], other.passages, strict=True):
                if not live["supported"]:
                    continue
                passages += 1
                for label in shadow.labels:
                    a, b = label in live["labels"], label in shadow_passage.labels
                    expected[label][0] += a
                    expected[label][1] += b
                    expected[label][2] += a != b
    assert report["passages"] == passages
    for label, (live, other, differ) in expected.items():
        entry = report["labels"][label]
        assert (entry["current_alerts"], entry["shadow_alerts"], entry["disagreements"]) == (live, other, differ)
        assert entry["disagreement_rate"] == round(differ / passages, 6)
    assert sum(differ for *_, differ in expected.values()) > 0  # the two models are not the same
    assert len(report["samples"]) == min(20, sum(differ for *_, differ in expected.values()))
    for sample in report["samples"]:
        assert sample["current"] != sample["shadow"] and sample["label"] in shadow.labels
        assert any(sample["text"] in text for text in TEXTS + differing)

    metrics_text = client.get("/metrics").get_data(as_text=True)
    assert f'hta_shadow_passages{{shadow_version="{SHADOW}"}} {float(passages)}' in metrics_text

    stopped = client.delete("/v1/shadow", headers=AUTH)
    assert stopped.status_code == 200 and stopped.get_json()["state"] == "stopped"
    assert client.delete("/v1/shadow", headers=AUTH).get_json() == {
        "error": {"code": "not_found", "message": "no shadow run is running"}
    }


def test_a_run_of_n_passages_ends_by_itself(shadow_app):
    client = shadow_app.test_client()
    assert client.post(f"/v1/models/{SHADOW}/shadow", json={"share": 1, "passages": 3}, headers=AUTH).status_code == 201
    for text in TEXTS[:4]:
        client.post("/v1/predict", json={"text": text})
        time.sleep(0.05)
    deadline = time.monotonic() + 20
    while client.get("/v1/shadow", headers=AUTH).get_json()["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.1)
    report = client.get("/v1/shadow", headers=AUTH).get_json()
    assert report["state"] == "done" and report["passages"] >= 3
    # a finished run leaves room for the next
    assert client.post(f"/v1/models/{SHADOW}/shadow", json={}, headers=AUTH).status_code == 201
    assert client.get("/v1/shadow", headers=AUTH).get_json()["run"]["share"] == 0.1  # HTA_SHADOW_SHARE


def test_bad_shadow_requests_are_refused_and_change_nothing(shadow_app):
    client = shadow_app.test_client()
    models = shadow_app.config["MODELS_DIR"]
    broken = copy_version(models, "broken-candidate")
    corrupt(broken / "scorer.npz")
    served = client.get("/v1/model").get_json()["version"]
    assert client.get("/v1/shadow", headers=AUTH).get_json() == {
        "error": {"code": "not_found", "message": "no shadow run was started"}
    }
    cases = [
        ("nope", {}, 404, "not_found", "model version 'nope' not found"),
        ("..", {}, 404, "not_found", "model version '..' not found"),
        (served, {}, 409, "same_version", f"model version {served!r} is the one served: shadow another version"),
        (SHADOW, {"share": 0}, 400, "invalid_request", "share: Input should be greater than 0"),
        (SHADOW, {"share": 1.5}, 400, "invalid_request", "share: Input should be less than or equal to 1"),
        (SHADOW, {"passages": 0}, 400, "invalid_request", "passages: Input should be greater than or equal to 1"),
        (SHADOW, {"version": "x"}, 400, "invalid_request", "version: unknown field"),
    ]
    for version, body, status, code, message in cases:
        response = client.post(f"/v1/models/{version}/shadow", json=body, headers=AUTH)
        assert (response.status_code, response.get_json()) == (status, {"error": {"code": code, "message": message}})
    response = client.post("/v1/models/broken-candidate/shadow", json={}, headers=AUTH)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "invalid_model"
    assert error["message"].startswith("model version 'broken-candidate' cannot be loaded: ")
    assert "scorer.npz: sha256" in error["message"]
    assert client.post(f"/v1/models/{SHADOW}/shadow", json={}).status_code == 401
    assert client.get("/v1/shadow", headers=AUTH).status_code == 404  # nothing was started

    assert client.post(f"/v1/models/{SHADOW}/shadow", json={}, headers=AUTH).status_code == 201
    first = client.get("/v1/shadow", headers=AUTH).get_json()
    second = client.post(f"/v1/models/{SHADOW}/shadow", json={"share": 0.5}, headers=AUTH)
    assert second.status_code == 409
    assert second.get_json() == {
        "error": {
            "code": "shadow_running",
            "message": f"a shadow run of {SHADOW} is already running (since {first['run']['started']}): stop it "
            "with DELETE /v1/shadow first",
        }
    }
    assert client.get("/v1/shadow", headers=AUTH).get_json()["run"] == first["run"]


def test_a_full_queue_drops_the_work_and_counts_it(shadow_app):
    client = shadow_app.test_client()
    assert client.post(f"/v1/models/{SHADOW}/shadow", json={"share": 1.0}, headers=AUTH).status_code == 201
    shadow = shadow_app.extensions["hta_shadow"]
    full = queue.Queue(maxsize=1)
    full.put_nowait("taken")  # no scorer reads this queue: it stays full
    shadow._queue = full
    before = metrics.counter_value("hta_shadow_dropped")
    answer = client.post("/v1/predict", json={"text": TEXTS[0]})
    assert answer.status_code == 200
    assert metrics.counter_value("hta_shadow_dropped") == before + 1
    assert client.get("/v1/shadow", headers=AUTH).get_json()["dropped_requests"] == before + 1


def test_a_run_file_that_cannot_be_written_is_a_json_error(app_config, tmp_path):
    from service import create_app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run file's folder should be\n")
    copy_version(app_config["MODELS_DIR"], SHADOW)
    client = create_app({**app_config, "SHADOW_FILE": blocker / "shadow.json"}).test_client()
    response = client.post(f"/v1/models/{SHADOW}/shadow", json={}, headers=AUTH)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "storage_error"
    assert error["message"].startswith(f"the shadow run file {blocker / 'shadow.json'} cannot be written: ")
    assert blocker.read_text() == "a file where the run file's folder should be\n"
    assert client.post("/v1/predict", json={"text": TEXTS[0]}).status_code == 200
