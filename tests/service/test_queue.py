"""The review queue's routes (/v1/queue): adding, ranking, skipping, labelling, capture, limits, errors."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from training.select import DEFAULT_STRATEGY, select

DOCUMENT = (
    "Harbour security update\n\n"
    "Divers found explosives attached to the pipeline near the harbour. "
    "The port authority reopened the ferry terminal on Tuesday. "
    "Hybrid cars now make up a third of new sales in the region.\n\n"
    "- The government pledged further aid to Ukraine.\n"
    "- Weather: light rain expected."
)
PASSAGES = [
    "Investigators suspect the substation fire was deliberate sabotage.",
    "The council approved the new library budget.",
    "Officials warned of a coordinated disinformation campaign before the vote.",
    "Our country stands firmly with Ukraine.",
]


def error_of(response) -> dict:
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


def assert_error(response, status: int, code: str, message: str):
    assert response.status_code == status, response.data[:300]
    assert error_of(response) == {"code": code, "message": message}


def add(client, headers, **body):
    response = client.post("/v1/queue", json=body, headers=headers)
    assert response.status_code == 201, response.data[:300]
    return response.get_json()


def raw_post(client, path: str, data: bytes, length: int | None, headers=None):
    """POST JSON `data` with a chosen Content-Length (None: no length, as a chunked body arrives)."""
    environ = {"wsgi.input": io.BytesIO(data), "CONTENT_TYPE": "application/json"}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    else:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    return client.open(path, method="POST", headers=headers, environ_overrides=environ)


def rows(app, sql: str, params=()) -> list[tuple]:
    with app.extensions["hta_store"].connect() as conn:  # the app's store, either engine
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]


# adding


def test_add_documents_segments_keeps_offsets_and_context(client, admin_headers):
    body = add(client, admin_headers, documents=[{"id": 42, "text": DOCUMENT}])
    assert body["added"] == 6 and body["duplicates"] == 0 and body["dropped"] == 0
    assert body["counts"] == {"pending": 6, "labelled": 0, "skipped": 0}
    listed = client.get("/v1/queue?limit=50").get_json()["items"]
    assert sorted(item["id"] for item in listed) == body["ids"]
    by_text = {item["text"]: item for item in listed}
    assert set(by_text) == {
        "Harbour security update",
        "Divers found explosives attached to the pipeline near the harbour.",
        "The port authority reopened the ferry terminal on Tuesday.",
        "Hybrid cars now make up a third of new sales in the region.",
        "- The government pledged further aid to Ukraine.",
        "- Weather: light rain expected.",
    }
    for item in listed:
        assert item["document_id"] == "42" and item["origin"] == "api" and item["state"] == "pending"
        assert DOCUMENT[item["start"] : item["end"]] == item["text"]
    heading = by_text["Harbour security update"]
    assert heading["kind"] == "heading"
    assert heading["context"] == {
        "before": "",
        "after": "\n\nDivers found explosives attached to the pipeline near the harbour. "
        "The port authority reopened the ferry terminal on Tuesday.",
    }
    middle = by_text["The port authority reopened the ferry terminal on Tuesday."]
    assert middle["context"] == {
        "before": "Harbour security update\n\nDivers found explosives attached to the pipeline near the harbour. ",
        "after": " Hybrid cars now make up a third of new sales in the region.\n\n"
        "- The government pledged further aid to Ukraine.",
    }
    assert by_text["- Weather: light rain expected."]["kind"] == "bullet"


def test_add_duplicates_are_not_added_twice(client, admin_headers):
    first = add(client, admin_headers, passages=[{"text": t} for t in PASSAGES])
    assert first["added"] == 4 and first["ids"] == [1, 2, 3, 4]
    again = add(client, admin_headers, passages=[{"text": PASSAGES[0]}, {"text": "  " + PASSAGES[1] + "\n"}])
    assert again == {
        "added": 0,
        "duplicates": 2,
        "dropped": 0,
        "ids": [],
        "counts": {"pending": 4, "labelled": 0, "skipped": 0},
    }
    twice = add(client, admin_headers, passages=[{"text": "A new line."}, {"text": "A new line."}])
    assert (twice["added"], twice["duplicates"]) == (1, 1)


def test_feedback_from_anywhere_takes_a_passage_out_of_the_queue(client, admin_headers, app):
    add(client, admin_headers, passages=[{"text": t} for t in PASSAGES[:3]])
    skipped = client.post("/v1/queue/2/skip")
    assert skipped.status_code == 200
    # labelled through POST /v1/feedback (the page's analysis mode, a script): pending and skipped items go
    stored = client.post(
        "/v1/feedback",
        json={
            "items": [{"text": PASSAGES[0] + "\n", "labels": ["sabotage_mention"]}, {"text": PASSAGES[1], "labels": []}]
        },
        headers=admin_headers,
    )
    assert stored.status_code == 201
    feedback_ids = stored.get_json()["ids"]
    assert [item["text"] for item in client.get("/v1/queue?limit=10").get_json()["items"]] == [PASSAGES[2]]
    assert rows(app, "SELECT id, state, feedback_id FROM queue_items ORDER BY id") == [
        (1, "labelled", feedback_ids[0]),
        (2, "labelled", feedback_ids[1]),
        (3, "pending", None),
    ]
    # a text that already has feedback is not queued again
    again = add(client, admin_headers, passages=[{"text": PASSAGES[0]}, {"text": PASSAGES[3]}])
    assert (again["added"], again["duplicates"], again["counts"]) == (
        1,
        1,
        {"pending": 2, "labelled": 2, "skipped": 0},
    )
    late = client.post("/v1/feedback", json={"text": " " + PASSAGES[3], "labels": []}, headers=admin_headers)
    assert late.status_code == 201
    assert [item["text"] for item in client.get("/v1/queue?limit=10").get_json()["items"]] == [PASSAGES[2]]


def test_add_passage_document_id_as_text(client, admin_headers, app):
    add(client, admin_headers, passages=[{"text": PASSAGES[0], "document_id": 7}, {"text": PASSAGES[1]}])
    assert rows(app, "SELECT document_id, start, kind FROM queue_items ORDER BY id") == [
        ("7", None, None),
        (None, None, None),
    ]


def test_pool_cap_drops_oldest_pending(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "QUEUE_MAX_ITEMS": 3}).test_client()
    add(client, admin_headers, passages=[{"text": PASSAGES[0]}])
    client.post("/v1/queue/1/skip")
    body = add(client, admin_headers, passages=[{"text": t} for t in PASSAGES[1:]] + [{"text": "Fifth line."}])
    # four were inserted; id 2, then the oldest pending, was dropped at once; the skipped item is kept
    assert body["added"] == 3 and body["dropped"] == 1
    assert body["ids"] == [3, 4, 5]
    assert body["counts"] == {"pending": 3, "labelled": 0, "skipped": 1}
    texts = {item["text"] for item in client.get("/v1/queue").get_json()["items"]}
    assert texts == {PASSAGES[2], PASSAGES[3], "Fifth line."}


# auth


def test_add_needs_admin_unless_allowed(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "PREDICT_TOKEN": "predict-token"}).test_client()
    body = {"passages": [{"text": PASSAGES[0]}]}
    response = client.post("/v1/queue", json=body)
    assert_error(response, 401, "unauthorized", "missing bearer token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="admin"'
    predict = {"Authorization": "Bearer predict-token"}
    assert_error(client.post("/v1/queue", json=body, headers=predict), 403, "forbidden", "invalid token")
    assert client.post("/v1/queue", json=body, headers=admin_headers).status_code == 201

    allowed = create_app({**app_config, "PREDICT_TOKEN": "predict-token", "QUEUE_ADD_BY_CLIENT": True}).test_client()
    response = allowed.post("/v1/queue", json={"passages": [{"text": PASSAGES[1]}]}, headers=predict)
    assert response.status_code == 201 and response.get_json()["added"] == 1
    assert_error(allowed.post("/v1/queue", json=body), 401, "unauthorized", "missing bearer token")
    # reading, skipping and labelling need the predict token when one is set
    assert_error(allowed.get("/v1/queue"), 401, "unauthorized", "missing bearer token")
    assert_error(allowed.post("/v1/queue/1/skip"), 401, "unauthorized", "missing bearer token")
    assert_error(allowed.post("/v1/queue/1/label", json={"labels": []}), 401, "unauthorized", "missing bearer token")
    assert allowed.get("/v1/queue", headers=predict).status_code == 200


def test_add_admin_disabled(app_config):
    from service import create_app

    client = create_app({**app_config, "ADMIN_TOKEN": None}).test_client()
    response = client.post("/v1/queue", json={"passages": [{"text": PASSAGES[0]}]})
    assert_error(response, 403, "admin_disabled", "admin routes are disabled: no HTA_ADMIN_TOKEN is configured")


def test_label_follows_feedback_requires_admin(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "FEEDBACK_REQUIRES_ADMIN": True}).test_client()
    add(client, admin_headers, passages=[{"text": PASSAGES[0]}])
    response = client.post("/v1/queue/1/label", json={"labels": ["sabotage_mention"]})
    assert_error(response, 401, "unauthorized", "missing bearer token")
    response = client.post("/v1/queue/1/label", json={"labels": ["sabotage_mention"]}, headers=admin_headers)
    assert response.status_code == 200


# bad input


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ([1], 400, "invalid_request", "the JSON body must be an object"),
        ({}, 400, "invalid_request", "give exactly one of 'passages' or 'documents'"),
        ({"passages": [], "documents": []}, 400, "invalid_request", "give exactly one of 'passages' or 'documents'"),
        ({"passages": "text"}, 400, "invalid_request", "passages: Input should be a valid list"),
        ({"passages": []}, 400, "invalid_request", "passages: is empty"),
        ({"passages": ["text"]}, 400, "invalid_request", "passages[0]: must be an object"),
        ({"passages": [{"text": 5}]}, 400, "invalid_request", "passages[0].text: Input should be a valid string"),
        ({"passages": [{"document_id": "d"}]}, 400, "invalid_request", "passages[0].text: is required"),
        ({"passages": [{"text": "a", "doc": 1}]}, 400, "invalid_request", "passages[0].doc: unknown field"),
        ({"passages": [{"text": "ok"}, {"text": " \n"}]}, 400, "empty_text", "passages[1].text: is empty"),
        (
            {"passages": [{"text": "a\x00b"}]},
            400,
            "invalid_text",
            "passages[0].text: contains a NUL character (U+0000)",
        ),
        (
            {"passages": [{"text": "a", "document_id": 1.5}]},
            400,
            "invalid_request",
            "passages[0].document_id: must be a string or integer",
        ),
        (
            {"documents": [{"id": True, "text": "a"}]},
            400,
            "invalid_request",
            "documents[0].id: must be a string or integer",
        ),
        ({"documents": [{"id": "a"}]}, 400, "invalid_request", "documents[0].text: is required"),
        ({"documents": [{"text": "a"}], "strategy": "x"}, 400, "invalid_request", "strategy: unknown field"),
        (
            {"documents": [{"text": "x" * 201}]},
            413,
            "text_too_long",
            "documents[0].text: has 201 characters; the limit is 200",
        ),
        ({"passages": [{"text": "a"}] * 4}, 413, "batch_too_large", "passages: has 4 items; the limit is 3"),
    ],
)
def test_add_bad_input(shared_app, admin_headers, body, status, code, message):
    client = shared_app(MAX_TEXT_CHARS=200, MAX_BATCH=3).test_client()
    assert_error(client.post("/v1/queue", json=body, headers=admin_headers), status, code, message)
    assert client.get("/v1/queue").get_json()["counts"]["pending"] == 0


def test_add_not_json(client, admin_headers):
    response = client.post("/v1/queue", data="text=a", content_type="text/plain", headers=admin_headers)
    assert_error(response, 415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    response = client.post("/v1/queue", data="{nope", content_type="application/json", headers=admin_headers)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    assert error_of(response)["message"].startswith("malformed JSON: ")
    deep = '{"passages": ' + "[" * 100 + "]" * 100 + "}"
    response = client.post("/v1/queue", data=deep, content_type="application/json", headers=admin_headers)
    assert_error(response, 400, "json_too_deep", "the JSON body has arrays or objects nested deeper than 64 levels")
    response = client.post(
        "/v1/queue", data='{"passages": NaN}', content_type="application/json", headers=admin_headers
    )
    assert_error(response, 400, "invalid_json", "malformed JSON: NaN is not a JSON value")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"passages": [{"text": "abc \\ud800 def"}]}',
            "passages[0].text: contains a lone surrogate (U+D800) at character 4: not valid Unicode text",
        ),
        (
            '{"documents": [{"id": "\\udfff", "text": "ok"}]}',
            "documents[0].id: contains a lone surrogate (U+DFFF) at character 0: not valid Unicode text",
        ),
    ],
)
def test_add_lone_surrogates_are_400(client, admin_headers, raw, message):
    response = client.post("/v1/queue", data=raw, content_type="application/json", headers=admin_headers)
    assert_error(response, 400, "invalid_text", message)


def test_add_body_over_limit(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "MAX_BODY_BYTES": 100}).test_client()
    response = client.post("/v1/queue", json={"passages": [{"text": "x" * 200}]}, headers=admin_headers)
    assert_error(response, 413, "payload_too_large", "the declared Content-Length 228 is over the limit of 100 bytes")
    assert response.headers["Connection"] == "close"


def test_add_chunked_and_short_bodies_are_bounded(app_config, admin_headers):
    from service import create_app

    client = create_app({**app_config, "MAX_BODY_BYTES": 100}).test_client()
    body = b'{"passages": [{"text": "' + b"x" * 200 + b'"}]}'
    response = raw_post(client, "/v1/queue", body, None, headers=admin_headers)
    assert_error(response, 413, "payload_too_large", "the request body is over the limit of 100 bytes")
    assert response.headers["Connection"] == "close"
    response = raw_post(client, "/v1/queue", b'{"passages": [{"text": "a"}]}', 90, headers=admin_headers)
    assert_error(response, 400, "incomplete_body", "the request body ended before its Content-Length (29 of 90 bytes)")
    response = raw_post(client, "/v1/queue/1/label", b'{"labels": []}', 40)
    assert_error(response, 400, "incomplete_body", "the request body ended before its Content-Length (14 of 40 bytes)")
    assert client.get("/v1/queue").get_json()["counts"] == {"pending": 0, "labelled": 0, "skipped": 0}
    response = raw_post(client, "/v1/queue", b'{"passages": [{"text": "a"}]}', None, headers=admin_headers)
    assert response.status_code == 201 and response.get_json()["ids"] == [1]


# the contract


@pytest.mark.parametrize(
    ("settings", "labels", "queue_add"),
    [
        ({"LABELS_OPEN": False}, [{"bearer": []}], [{"bearer": []}]),
        ({"LABELS_OPEN": True}, [{}, {"bearer": []}], [{"bearer": []}]),
        ({"LABELS_OPEN": True, "FEEDBACK_REQUIRES_ADMIN": True}, [{"bearer": []}], [{"bearer": []}]),
        ({"QUEUE_ADD_BY_CLIENT": True, "LABELS_OPEN": False}, [{"bearer": []}], [{}, {"bearer": []}]),
    ],
)
def test_openapi_security_states_what_the_app_enforces(app_config, settings, labels, queue_add):
    from service import create_app

    paths = create_app({**app_config, **settings}).test_client().get("/openapi.json").get_json()["paths"]
    assert paths["/v1/feedback"]["post"]["security"] == labels
    assert paths["/v1/queue/{item_id}/label"]["post"]["security"] == labels
    assert paths["/v1/queue"]["post"]["security"] == queue_add


def test_openapi_documents_the_queue_routes(app_config):
    from service import create_app

    client = create_app({**app_config, "MAX_TEXT_CHARS": 200, "MAX_BATCH": 3}).test_client()
    doc = client.get("/openapi.json").get_json()
    paths = doc["paths"]
    queue_ops = {(path, method) for path, item in paths.items() if path.startswith("/v1/queue") for method in item}
    assert queue_ops == {
        ("/v1/queue", "post"),
        ("/v1/queue", "get"),
        ("/v1/queue/{item_id}/skip", "post"),
        ("/v1/queue/{item_id}/label", "post"),
    }
    add_op, next_op = paths["/v1/queue"]["post"], paths["/v1/queue"]["get"]
    skip_op, label_op = paths["/v1/queue/{item_id}/skip"]["post"], paths["/v1/queue/{item_id}/label"]["post"]
    ref = "#/components/schemas/{}".format
    assert add_op["security"] == [{"bearer": []}]
    assert "when HTA_QUEUE_ADD_BY_CLIENT is set, the predict (or admin) token instead" in add_op["description"]
    assert next_op["security"] == skip_op["security"] == [{}, {"bearer": []}]
    assert label_op["security"] == [{}, {"bearer": []}]  # the tests' apps leave labels open (HTA_LABELS_OPEN)
    assert "the admin token only when HTA_FEEDBACK_REQUIRES_ADMIN is set" in label_op["description"]
    answers = {
        "add": (add_op, "201", "QueueAdded", {"400", "401", "403", "413", "415"}),
        "next": (next_op, "200", "QueueNext", {"400", "401", "403", "503"}),
        "skip": (skip_op, "200", "QueueSkipped", {"400", "401", "403", "404", "409", "413", "415"}),
        "label": (label_op, "200", "QueueLabelled", {"400", "401", "403", "404", "413", "415"}),
    }
    for op, status, model, errors in answers.values():
        assert op["responses"][status]["content"]["application/json"]["schema"] == {"$ref": ref(model)}
        assert set(op["responses"]) == {status} | errors
        assert all(op["responses"][error] == {"$ref": "#/components/responses/Error"} for error in errors)
    assert add_op["requestBody"]["required"] is True and skip_op["requestBody"]["required"] is False
    assert add_op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": ref("QueueAddRequest")}
    assert label_op["requestBody"]["content"]["application/json"]["example"] == {"labels": ["sabotage_mention"]}
    assert next_op["parameters"] == [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"default": 10, "maximum": 50, "minimum": 1, "type": "integer"},
            "description": "passages to answer, most worth labelling first",
        },
        {
            "name": "language",
            "in": "query",
            "required": False,
            "schema": {"pattern": "^[a-z]{2,3}$", "type": "string"},
            "description": "only passages in this language (ISO 639-1, as results give it)",
        },
    ]
    schemas = doc["components"]["schemas"]
    request = schemas["QueueAddRequest"]
    assert request["additionalProperties"] is False
    assert request["oneOf"] == [{"required": ["passages"]}, {"required": ["documents"]}]
    assert request["properties"]["passages"]["maxItems"] == request["properties"]["documents"]["maxItems"] == 3
    assert schemas["QueuePassage"]["properties"]["text"]["maxLength"] == 200
    assert schemas["QueueDocument"]["properties"]["text"]["maxLength"] == 200
    assert schemas["QueueLabelRequest"]["properties"]["labels"]["items"]["enum"] == [
        "hybrid_threat_warning",
        "sabotage_mention",
        "support_statement",
    ]
    html = client.get("/docs").get_data(as_text=True)
    admin = "-H &quot;Authorization: Bearer $HTA_ADMIN_TOKEN&quot; -H &#x27;Content-Type: application/json&#x27;"
    assert f"curl -X POST {admin} -d &#x27;{{&quot;documents&quot;: [{{&quot;id&quot;: &quot;brief-1&quot;" in html
    assert "curl &#x27;127.0.0.1:8000/v1/queue?limit=50&#x27;" in html
    assert "-d &#x27;{}&#x27; &#x27;127.0.0.1:8000/v1/queue/7/skip&#x27;" in html


def test_answers_match_the_documented_models(client, admin_headers):
    from jsonschema import Draft202012Validator

    doc = client.get("/openapi.json").get_json()

    def check(response, path: str, method: str):
        schema = doc["paths"][path][method]["responses"][str(response.status_code)]["content"]["application/json"]
        root = {**schema["schema"], "components": doc["components"]}
        errors = [error.message for error in Draft202012Validator(root).iter_errors(response.get_json())]
        assert errors == [], (path, method, errors)

    added = client.post("/v1/queue", json={"documents": [{"id": 5, "text": DOCUMENT}]}, headers=admin_headers)
    assert added.status_code == 201
    check(added, "/v1/queue", "post")
    ranked = client.get("/v1/queue?limit=3")
    assert ranked.status_code == 200 and len(ranked.get_json()["items"]) == 3
    check(ranked, "/v1/queue", "get")
    first, second, _ = ranked.get_json()["items"]
    skipped = client.post(f"/v1/queue/{first['id']}/skip")
    assert skipped.status_code == 200
    check(skipped, "/v1/queue/{item_id}/skip", "post")
    labelled = client.post(f"/v1/queue/{second['id']}/label", json={"labels": ["sabotage_mention"]})
    assert labelled.status_code == 200
    check(labelled, "/v1/queue/{item_id}/label", "post")


# ranking


def test_get_ranks_with_selection_default_and_model_view(client, admin_headers, app, predictor):
    texts = [
        *PASSAGES,
        "Hybrid cars now make up a third of new sales.",
        "Pro-Kremlin accounts spread fake stories about the blackout.",
        "The bridge was closed for repairs.",
    ]
    add(client, admin_headers, passages=[{"text": t} for t in texts])
    response = client.get("/v1/queue?limit=4")
    assert response.status_code == 200
    body = response.get_json()
    version = predictor.version
    assert response.headers["X-Model-Version"] == version
    assert body["model_version"] == version and body["strategy"] == DEFAULT_STRATEGY
    assert body["labels"] == list(predictor.labels)
    assert body["thresholds"] == predictor.thresholds
    assert body["counts"] == {"pending": 7, "labelled": 0, "skipped": 0}
    expected = select(predictor, [{"text": t} for t in texts], 4)
    assert [item["text"] for item in body["items"]] == [row["text"] for row in expected]
    assert [item["rank"] for item in body["items"]] == [1, 2, 3, 4]
    scored = predictor.predict_texts([row["text"] for row in expected], evidence_top_k=5)
    for item, row, result in zip(body["items"], expected, scored, strict=True):
        assert item["scores"] == result["scores"]
        assert item["labels"] == result["labels"]
        assert item["evidence"] == result["evidence"]
        assert set(item["evidence"]) == set(item["labels"])
        assert item["margin"] == row["margin"] and item["nearest_label"] == row["nearest_label"]
        assert item["context"] == {"before": "", "after": ""}
    # the pool is not consumed by reading it
    again = client.get("/v1/queue?limit=4").get_json()
    assert [item["id"] for item in again["items"]] == [item["id"] for item in body["items"]]


def test_get_caches_scores_per_model_version(client, admin_headers, app, predictor, monkeypatch):
    from classifier.scorer import LinearScorer

    add(client, admin_headers, passages=[{"text": t} for t in PASSAGES])
    client.get("/v1/queue")
    cached = rows(app, "SELECT text, scores, scored_version FROM queue_items ORDER BY id")
    assert {version for _, _, version in cached} == {predictor.version}
    expected = predictor.scorer.predict_proba([text for text, _, _ in cached])
    assert np.allclose([json.loads(scores) for _, scores, _ in cached], expected)

    scored: list[list[str]] = []
    original = LinearScorer.predict_proba

    def counting(self, texts):
        scored.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(LinearScorer, "predict_proba", counting)
    client.get("/v1/queue")
    assert scored == []  # everything came from the cache
    add(client, admin_headers, passages=[{"text": "One more sentence about the harbour."}])
    client.get("/v1/queue")
    assert scored == [["One more sentence about the harbour."]]
    # another model version re-scores the pool once
    with app.extensions["hta_store"].connect() as conn:
        conn.execute("UPDATE queue_items SET scored_version = 'older-version'")
    scored.clear()
    client.get("/v1/queue")
    assert len(scored) == 1 and sorted(scored[0]) == sorted([*PASSAGES, "One more sentence about the harbour."])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit: must be an integer 1..50"),
        ("limit=51", "limit: must be an integer 1..50"),
        ("limit=two", "limit: must be an integer 1..50"),
        ("limit=-1", "limit: must be an integer 1..50"),
        ("limit=", "limit: must be an integer 1..50"),
        ("limit=5&limit=6", "limit: must be an integer 1..50"),
        ("order=new", "order: unknown field"),
        ("language=Russian", "language: must be a language code such as 'en' or 'ru'"),
        ("language=", "language: must be a language code such as 'en' or 'ru'"),
    ],
)
def test_get_bad_query(shared_client, query, message):
    assert_error(shared_client.get(f"/v1/queue?{query}"), 400, "invalid_request", message)


def test_get_filters_by_language(client, admin_headers, app, predictor):
    passages = [
        "Saboteurs cut the undersea cable near the coast last night.",
        "Россия усилила гибридные атаки против Европы.",
        "Ми дякуємо всім партнерам, які підтримують Україну.",
        "Die Bundesregierung warnt vor gezielter Desinformation.",
    ]
    add(client, admin_headers, passages=[{"text": text} for text in passages])
    everything = client.get("/v1/queue").get_json()["items"]
    assert sorted(item["language"] for item in everything) == ["de", "en", "ru", "uk"]
    (russian,) = client.get("/v1/queue?language=ru").get_json()["items"]
    assert russian["text"] == passages[1] and russian["language"] == "ru"
    assert russian["scores"] == dict.fromkeys(predictor.labels)  # not scored: Russian is not supported
    assert client.get("/v1/queue?language=lt").get_json()["items"] == []
    assert rows(app, "SELECT language FROM queue_items ORDER BY id") == [("en",), ("ru",), ("uk",), ("de",)]


@pytest.mark.sqlite_only
def test_a_queue_made_before_languages_gets_them(app_config, tmp_path):
    import sqlite3

    from service.review.store import QueueStore

    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)  # the table as the first release made it, without a language column
    conn.execute(
        "CREATE TABLE queue_items (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, text TEXT NOT NULL, "
        'text_sha256 TEXT NOT NULL UNIQUE, origin TEXT NOT NULL, document_id TEXT, start INTEGER, "end" INTEGER, '
        "kind TEXT, context_before TEXT NOT NULL DEFAULT '', context_after TEXT NOT NULL DEFAULT '', state TEXT NOT "
        "NULL DEFAULT 'pending', decided TEXT, feedback_id INTEGER, scores TEXT, scored_version TEXT)"
    )
    conn.execute(
        "INSERT INTO queue_items (created, text, text_sha256, origin) VALUES ('t', 'Это диверсия на железной дороге.', "
        "'x', 'api')"
    )
    conn.commit()
    conn.close()
    queue = QueueStore(db).init()
    assert queue.get(1)["language"] == "ru"
    assert [row["id"] for row in queue.pending_scores("ru")] == [1] and queue.pending_scores("en") == []


def test_get_empty_pool_and_default_limit(client, admin_headers):
    body = client.get("/v1/queue").get_json()
    assert body["items"] == [] and body["counts"] == {"pending": 0, "labelled": 0, "skipped": 0}
    add(client, admin_headers, passages=[{"text": f"Routine notice number {i}."} for i in range(12)])
    assert len(client.get("/v1/queue").get_json()["items"]) == 10


def test_get_without_model_is_503(app_config, tmp_path):
    from service import create_app

    empty = tmp_path / "no-models"
    empty.mkdir()
    client = create_app({**app_config, "MODELS_DIR": empty}).test_client()
    response = client.get("/v1/queue")
    assert response.status_code == 503 and error_of(response)["code"] == "model_unavailable"


# skipping and labelling


def test_skip_and_label_leave_the_ranking(client, admin_headers, app, predictor):
    add(client, admin_headers, documents=[{"id": "brief-1", "text": DOCUMENT}])
    first, second = client.get("/v1/queue?limit=2").get_json()["items"]

    response = client.post(f"/v1/queue/{first['id']}/skip")
    assert response.status_code == 200
    body = response.get_json()
    assert body["item"]["state"] == "skipped" and body["item"]["decided"]
    assert body["counts"] == {"pending": 5, "labelled": 0, "skipped": 1}
    assert client.post(f"/v1/queue/{first['id']}/skip", json={}).status_code == 200  # idempotent

    response = client.post(f"/v1/queue/{second['id']}/label", json={"labels": ["sabotage_mention", "sabotage_mention"]})
    assert response.status_code == 200
    body = response.get_json()
    feedback_id = body["feedback_id"]
    assert body["item"]["state"] == "labelled" and body["item"]["feedback_id"] == feedback_id
    assert body["counts"] == {"pending": 4, "labelled": 1, "skipped": 1}
    stored = app.extensions["hta_store"].get_feedback(feedback_id)
    assert stored["text"] == second["text"]
    assert stored["labels"] == ["sabotage_mention"]
    assert stored["document_id"] == "brief-1"
    assert stored["model_version"] == predictor.version
    assert (stored["source"], stored["source_project"], stored["source_ref"]) == ("queue", None, str(second["id"]))

    remaining = {item["id"] for item in client.get("/v1/queue?limit=50").get_json()["items"]}
    assert len(remaining) == 4 and first["id"] not in remaining and second["id"] not in remaining

    # a relabel replaces the same feedback row; a skipped item can still be labelled
    again = client.post(f"/v1/queue/{second['id']}/label", json={"labels": []}).get_json()
    assert again["feedback_id"] == feedback_id
    assert app.extensions["hta_store"].get_feedback(feedback_id)["labels"] == []
    assert app.extensions["hta_store"].feedback_count() == 1
    labelled = client.post(f"/v1/queue/{first['id']}/label", json={"labels": ["hybrid_threat_warning"]})
    assert labelled.status_code == 200 and labelled.get_json()["counts"] == {"pending": 4, "labelled": 2, "skipped": 0}

    response = client.post(f"/v1/queue/{second['id']}/skip")
    assert_error(response, 409, "already_labelled", f"queue item {second['id']} is labelled already")


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("/v1/queue/99/skip", None, 404, "not_found", "queue item 99 not found"),
        ("/v1/queue/abc/skip", None, 404, "not_found", "queue item 'abc' not found"),
        ("/v1/queue/-1/skip", None, 404, "not_found", "queue item '-1' not found"),
        ("/v1/queue/1/skip", {"reason": "dull"}, 400, "invalid_request", "reason: unknown field"),
        ("/v1/queue/1/skip", [], 400, "invalid_request", "the JSON body must be an object"),
        ("/v1/queue/99/label", {"labels": []}, 404, "not_found", "queue item 99 not found"),
        ("/v1/queue/abc/label", {"labels": []}, 404, "not_found", "queue item 'abc' not found"),
        ("/v1/queue/1/label", {}, 400, "invalid_request", "labels: is required"),
        (
            "/v1/queue/1/label",
            {"labels": "sabotage_mention"},
            400,
            "invalid_request",
            "labels: Input should be a valid list",
        ),
        ("/v1/queue/1/label", {"labels": [1]}, 400, "invalid_request", "labels[0]: Input should be a valid string"),
        ("/v1/queue/1/label", {"labels": [], "text": "x"}, 400, "invalid_request", "text: unknown field"),
        (
            "/v1/queue/1/label",
            {"labels": ["sabotage_mention", "threat"]},
            400,
            "unknown_label",
            "labels[1]: unknown label 'threat'; known: hybrid_threat_warning, sabotage_mention, support_statement",
        ),
        (
            "/v1/queue/1/label",
            {"labels": ["sabotage", "threat"]},
            400,
            "unknown_label",
            "labels[0]: unknown label 'sabotage'; "
            "known: hybrid_threat_warning, sabotage_mention, support_statement (and 1 more problem)",
        ),
    ],
)
def test_skip_and_label_errors(shared_app, admin_headers, path, body, status, code, message):
    app = shared_app()  # the same passage is added to it by every case: a duplicate after the first
    client = app.test_client()
    add(client, admin_headers, passages=[{"text": PASSAGES[0]}])
    response = client.post(path) if body is None else client.post(path, json=body)
    assert_error(response, status, code, message)
    assert rows(app, "SELECT state FROM queue_items") == [("pending",)]
    assert app.extensions["hta_store"].feedback_count() == 0


def test_label_not_json(client, admin_headers):
    add(client, admin_headers, passages=[{"text": PASSAGES[0]}])
    response = client.post("/v1/queue/1/label", data="labels", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    response = client.post("/v1/queue/1/skip", data="{", content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"


# capture


def test_capture_is_off_by_default(client, app):
    assert app.config["QUEUE_CAPTURE"] is False
    assert client.post("/v1/predict", json={"documents": [{"id": "d", "text": DOCUMENT}]}).status_code == 200
    assert rows(app, "SELECT COUNT(*) FROM queue_items") == [(0,)]


def test_capture_documents_and_texts(app_config, predictor):
    from service import create_app, metrics

    app = create_app({**app_config, "QUEUE_CAPTURE": True})
    client = app.test_client()
    before = metrics.QUEUE_CAPTURED._value.get()
    response = client.post("/v1/predict", json={"documents": [{"id": 9, "text": DOCUMENT}]})
    assert response.status_code == 200
    passages = response.get_json()["results"][0]["passages"]
    captured = rows(
        app, 'SELECT text, origin, document_id, start, "end", scores, scored_version FROM queue_items ORDER BY id'
    )
    assert [row[0] for row in captured] == [p["text"] for p in passages]
    for row, passage in zip(captured, passages, strict=True):
        assert row[1:5] == ("capture", "9", passage["start"], passage["end"])
        assert json.loads(row[5]) == [passage["scores"][label] for label in predictor.labels]
        assert row[6] == predictor.version
    # plain texts are segmented like documents, without an id; duplicates are not captured twice
    client.post("/v1/predict", json={"texts": ["Tanks crossed the border. " + PASSAGES[2], PASSAGES[3]]})
    texts = [row[0] for row in rows(app, "SELECT text FROM queue_items WHERE document_id IS NULL ORDER BY id")]
    assert texts == ["Tanks crossed the border.", PASSAGES[2], PASSAGES[3]]
    client.post("/v1/predict", json={"text": PASSAGES[3]})
    assert rows(app, "SELECT COUNT(*) FROM queue_items") == [(len(passages) + 3,)]
    assert metrics.QUEUE_CAPTURED._value.get() - before == len(passages) + 3
    assert "hta_queue_captured_total " in client.get("/metrics").get_data(as_text=True)


def test_capture_cap_and_age_limit(app_config, admin_headers):
    from service import create_app

    app = create_app(
        {**app_config, "QUEUE_CAPTURE": True, "QUEUE_CAPTURE_MAX_ITEMS": 2, "QUEUE_CAPTURE_MAX_AGE_HOURS": 1.0}
    )
    client = app.test_client()
    add(client, admin_headers, passages=[{"text": "Added by hand."}])
    client.post("/v1/predict", json={"texts": PASSAGES})
    captured = rows(app, "SELECT text FROM queue_items WHERE origin = 'capture' ORDER BY id")
    assert captured == [(PASSAGES[2],), (PASSAGES[3],)]  # the oldest captured passages were dropped
    # captured passages older than the age limit are dropped (not the ones added through the API)
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")
    with app.extensions["hta_store"].connect() as conn:
        conn.execute("UPDATE queue_items SET created = ?", (old,))
    body = client.get("/v1/queue").get_json()
    assert [item["text"] for item in body["items"]] == ["Added by hand."]
    assert body["counts"] == {"pending": 1, "labelled": 0, "skipped": 0}


def test_captured_text_expires_after_capture_is_turned_off(app_config):
    from service import create_app

    app = create_app({**app_config, "QUEUE_CAPTURE": True, "QUEUE_CAPTURE_MAX_AGE_HOURS": 1.0})
    app.test_client().post("/v1/predict", json={"texts": PASSAGES[:2]})
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")
    with app.extensions["hta_store"].connect() as conn:
        conn.execute("UPDATE queue_items SET created = ? WHERE text = ?", (old, PASSAGES[0]))
    off = create_app({**app_config, "QUEUE_CAPTURE": False, "QUEUE_CAPTURE_MAX_AGE_HOURS": 1.0})
    body = off.test_client().get("/v1/queue").get_json()
    assert [item["text"] for item in body["items"]] == [PASSAGES[1]]
    assert rows(off, "SELECT text FROM queue_items") == [(PASSAGES[1],)]


def test_capture_failure_never_fails_predict(app_config, monkeypatch, caplog):
    from service import create_app
    from service.review.store import QueueStore

    def broken(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(QueueStore, "add", broken)
    client = create_app({**app_config, "QUEUE_CAPTURE": True}).test_client()
    response = client.post("/v1/predict", json={"text": PASSAGES[0]})
    assert response.status_code == 200 and response.get_json()["results"][0]["labels"]
    assert "review-queue capture failed" in caplog.text


# settings and metrics


@pytest.mark.parametrize(
    ("key", "value"), [("QUEUE_MAX_ITEMS", 0), ("QUEUE_CAPTURE_MAX_ITEMS", -5), ("QUEUE_CAPTURE_MAX_AGE_HOURS", 0.0)]
)
def test_bad_settings_fail_at_start(app_config, key, value):
    from service import create_app

    with pytest.raises(ValueError, match=f"HTA_{key}: expected a number above 0, got {value!r}"):
        create_app({**app_config, key: value})


def test_settings_from_env(monkeypatch):
    from service.config import load_config

    monkeypatch.setenv("HTA_QUEUE_CAPTURE", "on")
    monkeypatch.setenv("HTA_QUEUE_MAX_ITEMS", "250")
    monkeypatch.setenv("HTA_QUEUE_CAPTURE_MAX_AGE_HOURS", "12.5")
    config = load_config()
    assert config["QUEUE_CAPTURE"] is True and config["QUEUE_MAX_ITEMS"] == 250
    assert config["QUEUE_CAPTURE_MAX_AGE_HOURS"] == 12.5
    assert config["QUEUE_CAPTURE_MAX_ITEMS"] == 1000 and config["QUEUE_ADD_BY_CLIENT"] is False


def test_metrics_count_queue_states(client, admin_headers):
    add(client, admin_headers, passages=[{"text": t} for t in PASSAGES])
    client.post("/v1/queue/1/skip")
    client.post("/v1/queue/2/label", json={"labels": []})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hta_queue_items{state="pending"} 2.0' in text
    assert 'hta_queue_items{state="labelled"} 1.0' in text
    assert 'hta_queue_items{state="skipped"} 1.0' in text


def _random_json(rng, depth: int = 0):
    """A random JSON value biased towards the shapes the queue routes take (seeded: reproducible)."""
    kinds = ["str", "int", "float", "bool", "null", "list", "dict", "passages", "documents"]
    kind = rng.choice(kinds if depth < 3 else kinds[:5])
    if kind == "str":
        return rng.choice(["", " ", "text", "A sentence. Another one.", "\n- bullet", "é\u2028x", "1"])
    if kind == "int":
        return rng.choice([0, -1, 7, 2**70])
    if kind == "float":
        return rng.choice([0.5, -2.0, 1e308])
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "null":
        return None
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        keys = ["text", "id", "document_id", "labels", "passages", "documents", "x"]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    field = "text" if kind == "passages" else rng.choice(["text", "id"])
    return {kind: [{field: _random_json(rng, depth + 1)} for _ in range(rng.randint(0, 2))]}


@pytest.mark.slow
def test_random_bodies_never_500(client, admin_headers):
    import random

    rng = random.Random(12)
    add(client, admin_headers, passages=[{"text": PASSAGES[0]}])
    seen = set()
    for _ in range(300):
        body = _random_json(rng)
        for path in ("/v1/queue", "/v1/queue/1/label", "/v1/queue/1/skip"):
            response = client.post(path, data=json.dumps(body), content_type="application/json", headers=admin_headers)
            assert response.status_code in (200, 201, 400, 409, 413), (path, body, response.data[:300])
            if response.status_code >= 400:
                assert error_of(response)["message"]
            seen.add(response.status_code)
    assert {201, 400} <= seen


def test_candidate_cut_gives_the_same_picks_as_the_whole_pool(client, admin_headers, predictor):
    from classifier.config import CORPUS_PATH
    from service.review.rank import MIN_CANDIDATES

    with open(CORPUS_PATH, encoding="utf-8") as handle:
        texts = list(dict.fromkeys(json.loads(line)["text"].strip() for line in handle))[: MIN_CANDIDATES * 3]
    passages = [{"text": text, "document_id": f"doc-{i // 10}"} for i, text in enumerate(texts)]
    add(client, admin_headers, passages=passages)
    items = client.get("/v1/queue?limit=5").get_json()["items"]
    whole = select(predictor, passages, 5)
    assert [item["text"] for item in items] == [row["text"] for row in whole]
    assert [item["document_id"] for item in items] == [row["document_id"] for row in whole]
