"""Flask test-client tests of every route and every error of the service."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

import pytest

from classifier.versions import current_version, list_versions

THREAT = (
    "Officials warned that hostile state actors are preparing sabotage against the power grid "
    "and undersea cables as part of a hybrid campaign."
)


def error_of(response) -> dict:
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return body["error"]


def assert_error(response, status: int, code: str, message: str | None = None, contains: str | None = None):
    assert response.status_code == status, response.data[:300]
    err = error_of(response)
    assert err["code"] == code
    if message is not None:
        assert err["message"] == message
    if contains is not None:
        assert contains in err["message"]


# predict


def test_predict_text(shared_client, trained_version_dir):
    response = shared_client.post("/v1/predict", json={"text": THREAT})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == trained_version_dir.name
    assert response.headers["X-Model-Version"] == trained_version_dir.name
    assert response.headers["X-Request-ID"]
    [result] = body["results"]
    assert list(result) == ["labels", "scores", "alerts", "language", "unsupported_languages", "passages"]
    assert set(result["scores"]) == {"hybrid_threat_warning", "sabotage_mention", "support_statement"}
    assert all(0.0 <= p <= 1.0 for p in result["scores"].values())


def test_predict_texts_with_evidence_and_passages(client):
    response = client.post("/v1/predict", json={"texts": [THREAT, "The weather was fine."], "evidence": 3})
    results = response.get_json()["results"]
    assert len(results) == 2
    assert all(len(r["passages"]) == 1 for r in results)
    evidence = results[0]["passages"][0]["evidence"]
    assert results[0]["labels"] and set(evidence) == set(results[0]["labels"])
    for terms in evidence.values():
        assert 1 <= len(terms) <= 3 and all(set(t) == {"term", "weight"} for t in terms)
    assert results[1]["passages"][0]["evidence"] == {}  # no label fired: nothing to explain
    response = client.post("/v1/predict", json={"texts": [THREAT], "passages": True})
    [result] = response.get_json()["results"]
    assert {"labels", "scores", "alerts", "passages"} <= set(result)


def test_predict_documents_shape(client):
    text = THREAT + "\n\nThe minister thanked partners for their continued support of Ukraine."
    response = client.post(
        "/v1/predict", json={"documents": [{"id": "d1", "text": text}, {"id": 7, "text": "Short."}], "evidence": True}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["model_version", "results"]
    first, second = body["results"]
    assert first["id"] == "d1" and second["id"] == 7
    assert {"id", "labels", "scores", "alerts", "passages"} <= set(first)
    assert len(first["passages"]) >= 2
    for passage in first["passages"]:
        assert text[passage["start"] : passage["end"]] == passage["text"]
        assert {"index", "start", "end", "kind", "text", "labels", "scores", "evidence"} <= set(passage)
    for label, alert in first["alerts"].items():
        assert set(alert) == {"alert", "max_score", "threshold", "passages"}
        assert alert["alert"] == (label in first["labels"])
    no_passages = client.post("/v1/predict", json={"documents": [{"text": text}], "passages": False})
    assert "passages" not in no_passages.get_json()["results"][0]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ([1, 2], "invalid_request", "the JSON body must be an object"),
        ({}, "invalid_request", "give exactly one of 'text', 'texts' or 'documents'"),
        ({"text": "a", "texts": ["b"]}, "invalid_request", "give exactly one of 'text', 'texts' or 'documents'"),
        ({"text": 5}, "invalid_request", "text: Input should be a valid string"),
        ({"text": None}, "invalid_request", "text: Input should be a valid string"),
        ({"text": "   "}, "empty_text", "text: is empty"),
        ({"texts": "abc"}, "invalid_request", "texts: Input should be a valid list"),
        ({"texts": []}, "invalid_request", "texts: is empty"),
        ({"texts": ["ok", ""]}, "empty_text", "texts[1]: is empty"),
        ({"texts": ["ok", None]}, "invalid_request", "texts[1]: Input should be a valid string"),
        ({"documents": ["x"]}, "invalid_request", "documents[0]: must be an object"),
        ({"documents": [{"id": 1.5, "text": "x"}]}, "invalid_request", "documents[0].id: must be a string or integer"),
        ({"documents": [{"id": True, "text": "x"}]}, "invalid_request", "documents[0].id: must be a string or integer"),
        ({"documents": [{"id": "a"}]}, "invalid_request", "documents[0].text: is required"),
        (
            {"documents": [{"text": "ok"}, {"text": "ok"}, {"text": "", "x": 1}]},
            "empty_text",
            "documents[2].text: is empty (and 1 more problem)",
        ),
        ({"text": "a", "evidence": "yes"}, "invalid_request", "evidence: must be true, false or an integer 0..50"),
        ({"text": "a", "evidence": 51}, "invalid_request", "evidence: must be true, false or an integer 0..50"),
        ({"text": "a", "passages": 3}, "invalid_request", 'passages: must be true, false, "auto", "always" or "never"'),
        ({"text": "a", "path": "/etc/passwd"}, "invalid_request", "path: unknown field"),
    ],
)
def test_predict_400(shared_client, body, code, message):
    assert_error(shared_client.post("/v1/predict", json=body), 400, code, message)


def test_predict_malformed_json(shared_client):
    response = shared_client.post("/v1/predict", data="{not json", content_type="application/json")
    assert_error(response, 400, "invalid_json", contains="malformed JSON")


def test_predict_415(shared_client):
    response = shared_client.post("/v1/predict", data="text=hello", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    assert_error(shared_client.post("/v1/predict", data="hello"), 415, "unsupported_media_type")


def test_predict_413_limits(app_config, monkeypatch):
    from service import create_app

    client = create_app({**app_config, "MAX_BODY_BYTES": 2000, "MAX_BATCH": 3, "MAX_TEXT_CHARS": 50}).test_client()
    response = client.post("/v1/predict", json={"text": "x" * 5000})
    assert_error(response, 413, "payload_too_large", "the declared Content-Length 5012 is over the limit of 2000 bytes")
    assert response.headers["Connection"] == "close"
    assert_error(
        client.post("/v1/predict", json={"texts": ["a"] * 4}),
        413,
        "batch_too_large",
        "texts: has 4 items; the limit is 3",
    )
    assert_error(
        client.post("/v1/predict", json={"text": "y" * 51}),
        413,
        "text_too_long",
        "text: has 51 characters; the limit is 50",
    )
    assert_error(
        client.post("/v1/predict", json={"documents": [{"text": "z" * 60}]}),
        413,
        "text_too_long",
        "documents[0].text: has 60 characters; the limit is 50",
    )


def test_predict_503_without_model(app_config, tmp_path):
    from service import create_app

    empty = tmp_path / "empty-models"
    empty.mkdir()
    client = create_app({**app_config, "MODELS_DIR": empty}).test_client()
    response = client.post("/v1/predict", json={"text": "hello"})
    assert_error(response, 503, "model_unavailable", contains="no model loaded")
    assert_error(client.get("/readyz"), 503, "model_unavailable")
    assert_error(client.get("/v1/model"), 503, "model_unavailable")
    assert client.get("/healthz").status_code == 200


def test_predict_token(app_config):
    from service import create_app

    client = create_app({**app_config, "PREDICT_TOKEN": "p-token"}).test_client()
    assert_error(client.post("/v1/predict", json={"text": THREAT}), 401, "unauthorized", "missing bearer token")
    bad = client.post("/v1/predict", json={"text": THREAT}, headers={"Authorization": "Bearer nope"})
    assert_error(bad, 403, "forbidden", "invalid token")
    good = client.post("/v1/predict", json={"text": THREAT}, headers={"Authorization": "Bearer p-token"})
    assert good.status_code == 200
    admin = client.post("/v1/predict", json={"text": THREAT}, headers={"Authorization": "Bearer admin-secret-token"})
    assert admin.status_code == 200


# generic errors


def test_404_and_405_are_json(shared_client):
    assert_error(shared_client.get("/nope"), 404, "not_found", "no such route")
    response = shared_client.get("/v1/predict")
    assert_error(response, 405, "method_not_allowed", "method not allowed; use POST")
    assert "POST" in response.headers["Allow"]
    assert_error(shared_client.delete("/v1/models"), 405, "method_not_allowed", "method not allowed; use GET")


def test_500_is_json_without_traceback(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert_error(response, 500, "internal_error", "internal server error")
    assert b"secret internals" not in response.data and b"Traceback" not in response.data


# model routes


def test_model_and_models(client, trained_version_dir):
    body = client.get("/v1/model").get_json()
    assert body["version"] == trained_version_dir.name
    assert set(body["labels"]) == set(body["thresholds"])
    assert "holdout" in body["metrics"]
    models = client.get("/v1/models").get_json()
    assert models["current"] == trained_version_dir.name
    assert [v["version"] for v in models["versions"]] == [trained_version_dir.name]
    assert models["versions"][0]["current"] is True


def _fake_version(models_dir, source: str, name: str) -> None:
    """A second version: a copy of `source` under a new name with a later creation time."""
    import shutil

    from classifier.artifacts import write_json_atomic

    shutil.copytree(models_dir / source, models_dir / name)
    manifest = json.loads((models_dir / name / "manifest.json").read_text())
    manifest["version"] = name
    manifest["created"] = "2999-01-01T00:00:00+00:00"
    write_json_atomic(models_dir / name / "manifest.json", manifest)


def test_activate_rollback(client, app, admin_headers, trained_version_dir):
    models_dir = app.config["MODELS_DIR"]
    old = trained_version_dir.name
    _fake_version(models_dir, old, "v-second")
    response = client.post("/v1/models/v-second/activate", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == {"current": "v-second", "previous": old, "serving": "v-second"}
    assert current_version(models_dir) == "v-second"
    assert client.post("/v1/predict", json={"text": THREAT}).get_json()["model_version"] == "v-second"
    response = client.post(f"/v1/models/{old}/activate", headers=admin_headers)
    assert response.get_json()["current"] == old
    assert client.post("/v1/predict", json={"text": THREAT}).headers["X-Model-Version"] == old


def test_activate_errors(client, app, admin_headers, trained_version_dir):
    url = f"/v1/models/{trained_version_dir.name}/activate"
    assert_error(client.post(url), 401, "unauthorized", "missing bearer token")
    assert_error(client.post(url, headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    assert_error(client.post(url, headers={"Authorization": "Bearer wrong"}), 403, "forbidden", "invalid token")
    assert_error(
        client.post("/v1/models/nope/activate", headers=admin_headers),
        404,
        "not_found",
        "model version 'nope' not found",
    )
    assert_error(client.post("/v1/models/bad%20name!/activate", headers=admin_headers), 404, "not_found")
    # a tampered version is refused and the current one keeps serving
    _fake_version(app.config["MODELS_DIR"], trained_version_dir.name, "v-broken")
    (app.config["MODELS_DIR"] / "v-broken" / "scorer.npz").write_bytes(b"tampered")
    response = client.post("/v1/models/v-broken/activate", headers=admin_headers)
    assert_error(response, 409, "invalid_model", contains="cannot be loaded")
    assert current_version(app.config["MODELS_DIR"]) == trained_version_dir.name


def test_admin_disabled_without_token(app_config, trained_version_dir):
    from service import create_app

    client = create_app({**app_config, "ADMIN_TOKEN": None}).test_client()
    for url in (f"/v1/models/{trained_version_dir.name}/activate", "/v1/retrain"):
        response = client.post(url, headers={"Authorization": "Bearer anything"})
        assert_error(response, 403, "admin_disabled", "admin routes are disabled: no HTA_ADMIN_TOKEN is configured")


def test_broken_current_keeps_serving_old(client, app, trained_version_dir):
    assert client.post("/v1/predict", json={"text": THREAT}).status_code == 200
    from classifier.artifacts import write_text_atomic

    _fake_version(app.config["MODELS_DIR"], trained_version_dir.name, "v-bad")
    (app.config["MODELS_DIR"] / "v-bad" / "scorer.npz").write_bytes(b"tampered")
    write_text_atomic(app.config["MODELS_DIR"] / "CURRENT", "v-bad\n")
    response = client.post("/v1/predict", json={"text": THREAT})
    assert response.status_code == 200
    assert response.get_json()["model_version"] == trained_version_dir.name


# feedback


def test_feedback_single_and_batch_and_export(client, app, tmp_path):
    response = client.post(
        "/v1/feedback",
        json={"text": THREAT, "labels": ["sabotage_mention"], "document_id": "doc-1", "model_version": "v1"},
    )
    assert response.status_code == 201
    assert response.get_json() == {"stored": 1, "ids": [1]}
    response = client.post(
        "/v1/feedback", json={"items": [{"text": "Nothing here.", "labels": []}, {"text": "Again.", "labels": []}]}
    )
    assert response.get_json() == {"stored": 2, "ids": [2, 3]}

    from training.cli import main
    from training.data import read_examples

    out = tmp_path / "feedback.jsonl"
    assert main(["export-feedback", "--db", str(app.config["FEEDBACK_DB"]), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["feedback-1", "feedback-2", "feedback-3"]
    assert rows[0]["labels"] == ["sabotage_mention"] and rows[0]["doc"] == "feedback-doc:doc-1"
    assert rows[0]["model_version"] == "v1"
    assert [e.labels for e in read_examples(out)] == [["sabotage_mention"], [], []]
    assert main(["export-feedback", "--db", str(tmp_path / "missing.db"), "--out", str(out)]) == 2


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"text": "x", "labels": ["nonsense"]}, "unknown_label", None),
        ({"text": "", "labels": []}, "empty_text", "text: is empty"),
        ({"text": "x"}, "invalid_request", "labels: is required"),
        ({"text": "x", "labels": "sabotage_mention"}, "invalid_request", "labels: Input should be a valid list"),
        ({"text": "x", "labels": [], "document_id": []}, "invalid_request", "document_id: must be a string or integer"),
        (
            {"text": "x", "labels": [], "model_version": 3},
            "invalid_request",
            "model_version: Input should be a valid string",
        ),
        ({"text": "x", "labels": [], "extra": 1}, "invalid_request", "extra: unknown field"),
        ({"items": []}, "invalid_request", "items: is empty"),
        ({"items": [{"text": "ok", "labels": []}], "text": "x"}, "invalid_request", "text: unknown field"),
        ({"items": [{"text": "ok", "labels": [], "document_id": "a\x00"}]}, "invalid_text", None),
        ({"items": [{"text": "ok", "labels": []}, {"text": "x", "labels": ["bad"]}]}, "unknown_label", None),
    ],
)
def test_feedback_400(shared_client, body, code, message):
    response = shared_client.post("/v1/feedback", json=body)
    assert_error(response, 400, code, message)
    if code == "unknown_label":
        assert "known: hybrid_threat_warning, sabotage_mention, support_statement" in error_of(response)["message"]


def test_feedback_rejected_batch_stores_nothing(client, app):
    client.post("/v1/feedback", json={"items": [{"text": "ok", "labels": []}, {"text": "x", "labels": ["bad"]}]})
    assert app.extensions["hta_store"].feedback_count() == 0


def test_feedback_415_413_and_admin_option(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "MAX_FEEDBACK_ITEMS": 1, "FEEDBACK_REQUIRES_ADMIN": True}).test_client()
    assert_error(client.post("/v1/feedback", json={"text": "x", "labels": []}), 401, "unauthorized")
    response = client.post("/v1/feedback", data="x", content_type="text/plain", headers=admin_headers)
    assert_error(response, 415, "unsupported_media_type")
    items = {"items": [{"text": "a", "labels": []}] * 2}
    response = client.post("/v1/feedback", json=items, headers=admin_headers)
    assert_error(response, 413, "batch_too_large", "items: has 2 items; the limit is 1")
    assert client.post("/v1/feedback", json={"text": "x", "labels": []}, headers=admin_headers).status_code == 201


def test_feedback_is_durable_sqlite_wal(client, app):
    client.post("/v1/feedback", json={"text": THREAT, "labels": ["hybrid_threat_warning"]})
    conn = sqlite3.connect(app.config["FEEDBACK_DB"])
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT text FROM feedback").fetchall() == [(THREAT,)]
    conn.close()


# retrain and jobs


def test_retrain_errors(client, app, admin_headers):
    assert_error(client.post("/v1/retrain"), 401, "unauthorized")
    response = client.post("/v1/retrain", json={"data": "/etc/passwd"}, headers=admin_headers)
    assert_error(
        response,
        400,
        "invalid_request",
        'retrain takes no parameters but "shadow": the training data is configured on the server',
    )
    store = app.extensions["hta_store"]
    job_id = store.create_job(None)
    store.update_job(job_id, state="running", pid=os.getpid())
    response = client.post("/v1/retrain", headers=admin_headers)
    assert_error(response, 409, "retrain_running", f"retrain job {job_id} is already running")
    assert_error(client.get("/v1/jobs/unknown"), 404, "not_found", "job 'unknown' not found")


def test_interrupted_job_marked_failed(client, app):
    store = app.extensions["hta_store"]
    job_id = store.create_job(None)
    store.update_job(job_id, state="running", pid=2**22 + 12345)  # no such process
    body = client.get(f"/v1/jobs/{job_id}").get_json()
    assert body["state"] == "failed" and body["error"] == "interrupted"


@pytest.mark.slow
def test_retrain_with_nothing_new_is_rejected_and_the_served_model_stays(client, app, admin_headers):
    # Retraining is deterministic: with no feedback the candidate equals the current model, and the gate
    # refuses it (nothing new to learn). The promoting path is tests/test_retrain_loop.py.
    base = current_version(app.config["MODELS_DIR"])
    response = client.post("/v1/retrain", headers=admin_headers)
    assert response.status_code == 202
    job_id = response.get_json()["job"]["id"]
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"
    assert client.post("/v1/predict", json={"text": THREAT}).status_code == 200  # not blocked
    deadline = time.time() + 300
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").get_json()
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert job["state"] == "rejected", job
    assert job["feedback_rows"] == 0 and job["promoted"] is False
    assert job["verdict"]["decision"].startswith("rejected: nothing new to learn"), job["verdict"]
    assert job["candidate_version"] in list_versions(app.config["MODELS_DIR"])
    candidate, current = job["metrics"]["base_holdout"]["candidate"], job["metrics"]["base_holdout"]["current"]
    assert candidate["macro"]["f1"] == current["macro"]["f1"] > 0  # the same model, reproduced
    assert current_version(app.config["MODELS_DIR"]) == base == job["base_version"]
    assert client.post("/v1/predict", json={"text": THREAT}).get_json()["model_version"] == base
    for thread in threading.enumerate():  # the job's reaper: let it see the exit while the database exists
        if thread.name == f"reap-{job_id}":
            thread.join(timeout=60)
    assert [t for t in threading.enumerate() if t.name == f"reap-{job_id}"] == []


# ops


def test_healthz_readyz(client, trained_version_dir):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "model_version": trained_version_dir.name,
        "current_version": trained_version_dir.name,
        "fallback": False,
        "reason": None,
    }


def test_metrics(client, trained_version_dir):
    client.post("/v1/predict", json={"documents": [{"text": THREAT}]})
    client.post("/v1/predict", json={"text": ""})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hta_http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'hta_http_requests_total{method="POST",route="/v1/predict",status="400"}' in text
    assert "hta_http_request_duration_seconds_bucket{" in text
    assert "hta_passages_scored_total" in text
    assert "hta_alerts_total" in text
    assert f'hta_model_current_info{{version="{trained_version_dir.name}"}} 1.0' in text
    assert 'hta_retrain_jobs{state="running"} 0.0' in text


def test_request_id_echo(shared_client):
    response = shared_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert shared_client.get("/healthz", headers={"X-Request-ID": "bad id"}).headers["X-Request-ID"] != "bad id"


def test_access_log_json(app_config, capsys):
    from service import create_app

    client = create_app({**app_config, "ACCESS_LOG": True}).test_client()
    client.get("/healthz", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"request_id"' in line]
    assert any(e["request_id"] == "log-me" and e["status"] == 200 and e["route"] == "/healthz" for e in lines)


@pytest.mark.slow
def test_openapi_document_is_valid_openapi(client):
    from openapi_spec_validator import validate

    doc = client.get("/openapi.json").get_json()
    assert validate(doc) is None  # raises on the first error
    assert doc["openapi"] == "3.1.0"


def test_openapi_matches_routes(client, app):
    import re

    doc = client.get("/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/v1/", "/label-studio/")) or rule.rule in ("/healthz", "/readyz", "/metrics"):
            path = re.sub(r"<(?:[^:>]*:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    assert ("/v1/feedback", "GET") in served and ("/v1/feedback/{feedback_id}", "DELETE") in served
    predict = doc["components"]["schemas"]["PredictRequest"]
    assert predict["additionalProperties"] is False
    assert predict["oneOf"] == [{"required": ["text"]}, {"required": ["texts"]}, {"required": ["documents"]}]
    assert predict["properties"]["text"]["maxLength"] == app.config["MAX_TEXT_CHARS"]
    assert predict["properties"]["texts"]["maxItems"] == app.config["MAX_BATCH"]
    item = doc["components"]["schemas"]["FeedbackItem"]
    assert item["properties"]["text"]["maxLength"] == app.config["MAX_FEEDBACK_TEXT_CHARS"] == 2000
    assert item["properties"]["labels"]["items"]["enum"] == [
        "hybrid_threat_warning",
        "sabotage_mention",
        "support_statement",
    ]
    assert doc["paths"]["/v1/feedback"]["get"]["security"] == [{"bearer": []}]
    assert ("/label-studio/webhook", "POST") in served
    assert doc["paths"]["/label-studio/predict"]["post"]["security"] == [{"basic": []}]


def test_openapi_limits_follow_the_configuration(app_config):
    from service import create_app

    client = create_app({**app_config, "MAX_TEXT_CHARS": 50, "MAX_FEEDBACK_ITEMS": 7}).test_client()
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["text"]["maxLength"] == 50
    assert schemas["FeedbackBatch"]["properties"]["items"]["maxItems"] == 7


def test_every_documented_route_needs_a_contract(app):
    from service.openapi import MissingContract, build_document

    @app.get("/v1/undocumented")
    def undocumented():
        return {}

    with app.app_context(), pytest.raises(MissingContract, match="/v1/undocumented"):
        build_document(app, {}, [])


def test_docs_page_offline(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "/v1/predict" in html and "/v1/retrain" in html
    assert "http://" not in html and "https://" not in html
    assert "$ref" not in html and "`" not in html
    doc = client.get("/openapi.json").get_json()
    operations = sum(len(item) for item in doc["paths"].values())
    # 24 of /v1 (4 of the review queue, 4 of the team routes, the monitor, 3 of shadow runs) and ops, 5 of
    # Label Studio
    assert html.count("<pre>curl ") == operations == 29
    assert "curl -X POST -H &#x27;Content-Type: application/json&#x27; -d &#x27;{&quot;documents&quot;" in html
    assert "<td><code>documents</code></td><td>list of Document (1..1000 items)</td>" in html
    assert "Give exactly one of <code>text</code>, <code>texts</code>, <code>documents</code>." in html


def test_config_from_env(monkeypatch, tmp_path):
    from service.config import load_config

    monkeypatch.setenv("HTA_MAX_BATCH", "7")
    monkeypatch.setenv("HTA_FEEDBACK_REQUIRES_ADMIN", "yes")
    monkeypatch.setenv("HTA_ADMIN_TOKEN", "from-env")
    config = load_config({"ADMIN_TOKEN": "from-mapping"})
    assert config["MAX_BATCH"] == 7 and config["FEEDBACK_REQUIRES_ADMIN"] is True
    assert config["ADMIN_TOKEN"] == "from-mapping"
    monkeypatch.setenv("HTA_MAX_BATCH", "many")
    with pytest.raises(ValueError, match="HTA_MAX_BATCH"):
        load_config()


def test_predict_source_is_echoed_and_decides_with_the_source_thresholds(client, app):
    """`source` (top level and per document) picks a source's own thresholds and is echoed; others are not."""
    text = "Russia is waging a hybrid war of disinformation against Europe."
    plain = client.post("/v1/predict", json={"text": text}).get_json()["results"][0]
    assert "source" not in plain and "hybrid_threat_warning" in plain["labels"]
    store = app.extensions["hta_models"]
    served = store.current()
    served._by_source["feed-a"] = {"hybrid_threat_warning": 1.0}  # as a manifest's thresholds_by_source
    try:
        named = client.post("/v1/predict", json={"text": text, "source": "feed-a"}).get_json()["results"][0]
        assert named["source"] == "feed-a" and "hybrid_threat_warning" not in named["labels"]
        assert named["alerts"]["hybrid_threat_warning"]["threshold"] == 1.0
        assert named["scores"] == plain["scores"]
        body = {"source": "feed-a", "documents": [{"id": 1, "text": text}, {"id": 2, "text": text, "source": "other"}]}
        results = client.post("/v1/predict", json=body).get_json()["results"]
        assert [(r["id"], r["source"], "hybrid_threat_warning" in r["labels"]) for r in results] == [
            (1, "feed-a", False),
            (2, "other", True),
        ]
    finally:
        del served._by_source["feed-a"]
        served._source_maps.clear()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "must have 1 to 256 characters"),
        ("x" * 257, "must have 1 to 256 characters"),
        (7, "Input should be a valid string"),
        (None, "Input should be a valid string"),  # optional, but not nullable
    ],
)
def test_predict_refuses_a_bad_source(shared_client, source, message):
    response = shared_client.post("/v1/predict", json={"text": "x", "source": source})
    documents = shared_client.post("/v1/predict", json={"documents": [{"text": "x", "source": source}]})
    assert (response.status_code, documents.status_code) == (400, 400)
    assert response.get_json()["error"]["message"] == f"source: {message}"
    assert documents.get_json()["error"]["message"] == f"documents[0].source: {message}"


def test_feedback_document_source_is_stored_listed_and_read_for_training(client, app, admin_headers):
    from training.feedback import read_feedback

    item = {"text": "Saboteurs cut the cable.", "labels": ["sabotage_mention"], "document_id": "d1",
            "document_source": "feed-a"}  # fmt: skip
    assert client.post("/v1/feedback", json={"items": [item, {"text": "Nothing.", "labels": []}]}).status_code == 201
    listed = client.get("/v1/feedback", headers=admin_headers).get_json()["items"]
    assert [row["document_source"] for row in listed] == ["feed-a", None]
    records = read_feedback(app.config["FEEDBACK_DB"])
    assert [r["source"] for r in records] == ["feed-a", "feedback"]
