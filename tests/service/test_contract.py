"""The HTTP contract against hostile and careless input (Flask test client; no server process):
bounded bodies, depth, lone surrogates and NULs, feedback limits and management, text segmentation."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from tests.service.test_service_api import THREAT, assert_error

TWO_SENTENCES = THREAT + " Separately, the minister thanked partners for their continued support of Ukraine."


def raw_post(client, path: str, data: bytes, length: int | None, content_type: str = "application/json"):
    """POST `data` with a chosen Content-Length (None: no length, as a chunked body arrives)."""
    environ = {"wsgi.input": io.BytesIO(data), "CONTENT_TYPE": content_type}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    else:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    return client.open(path, method="POST", environ_overrides=environ)


# bounded parsing


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/feedback", "/v1/retrain"])
@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_deep_nesting_is_a_400(shared_client, admin_headers, path, depth):
    body = '{"text": ' + "[" * depth + "]" * depth + "}"
    response = shared_client.post(path, data=body, content_type="application/json", headers=admin_headers)
    assert_error(response, 400, "json_too_deep", "the JSON body has arrays or objects nested deeper than 64 levels")


def test_nesting_within_the_limit_is_validated_normally(shared_client):
    body = '{"text": ' + "[" * 63 + "]" * 63 + "}"
    response = shared_client.post("/v1/predict", data=body, content_type="application/json")
    assert_error(response, 400, "invalid_request", "text: Input should be a valid string")


def test_chunked_body_over_the_limit_is_a_413(app_config):
    from service import create_app

    client = create_app({**app_config, "MAX_BODY_BYTES": 1000}).test_client()
    response = raw_post(client, "/v1/predict", b'{"text": "' + b"x" * 3000 + b'"}', None)
    assert_error(response, 413, "payload_too_large", "the request body is over the limit of 1000 bytes")
    assert response.headers["Connection"] == "close"
    # valid JSON followed by spaces past the limit: refused too, not cut and accepted
    response = raw_post(client, "/v1/predict", b'{"text": "fine"}' + b" " * 3000, None)
    assert_error(response, 413, "payload_too_large", "the request body is over the limit of 1000 bytes")
    response = raw_post(client, "/v1/predict", b'{"text": "fine"}' + b" " * 900, None)
    assert response.status_code == 200


def test_body_shorter_than_its_content_length_is_a_400(shared_client):
    response = raw_post(shared_client, "/v1/predict", b'{"text": "x"}', 100)
    assert_error(response, 400, "incomplete_body", "the request body ended before its Content-Length (13 of 100 bytes)")


def test_body_longer_than_its_content_length_is_read_to_the_length(shared_client):
    response = raw_post(shared_client, "/v1/predict", b'{"text": "x"}garbage', 13)
    assert response.status_code == 200


def test_invalid_utf8_is_a_400(shared_client):
    response = shared_client.post("/v1/predict", data=b'{"text": "\xff\xfe"}', content_type="application/json")
    assert_error(response, 400, "invalid_json", contains="not valid UTF-8")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/predict", {"text": "a\ud800b"}, "text: contains a lone surrogate (U+D800) at character 1"),
        ("/v1/predict", {"texts": ["ok", "\udfff"]}, "texts[1]: contains a lone surrogate (U+DFFF) at character 0"),
        ("/v1/predict", {"documents": [{"id": "\ud800", "text": "x"}]}, "documents[0].id: contains a lone surrogate"),
        ("/v1/feedback", {"text": "\ud800", "labels": []}, "text: contains a lone surrogate (U+D800)"),
        ("/v1/feedback", {"text": "x", "labels": [], "document_id": "d\udc00"}, "document_id: contains a lone"),
        ("/v1/feedback", {"text": "x", "labels": [], "model_version": "\ud800"}, "model_version: contains a lone"),
        ("/v1/predict", {"text": "nul \x00 here"}, "text: contains a NUL character (U+0000)"),
        ("/v1/feedback", {"text": "x", "labels": [], "model_version": "v\x00"}, "model_version: contains a NUL"),
    ],
)
def test_lone_surrogates_and_nul_are_refused_naming_the_field(shared_client, path, body, message):
    import json

    raw = json.dumps(body)  # ensure_ascii: lone surrogates travel as \ud800 escapes, as a client sends them
    response = shared_client.post(path, data=raw, content_type="application/json")
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert error["code"] in ("invalid_text", "invalid_request")
    assert error["message"].startswith(message)


def test_bad_types_name_the_field(shared_client):
    body = {"documents": [{"text": "ok"}, {"text": "ok"}, {"text": "ok"}, {"text": 7}]}
    response = shared_client.post("/v1/predict", json=body)
    assert_error(response, 400, "invalid_request", "documents[3].text: Input should be a valid string")


# passages "auto" for text and texts


def test_text_defaults_to_passages_auto_with_one_result_shape(client):
    long = client.post("/v1/predict", json={"text": TWO_SENTENCES}).get_json()["results"][0]
    assert list(long) == ["labels", "scores", "alerts", "language", "unsupported_languages", "passages"]
    assert len(long["passages"]) == 2
    assert [p["text"] for p in long["passages"]] == [TWO_SENTENCES[p["start"] : p["end"]] for p in long["passages"]]
    short = client.post("/v1/predict", json={"texts": [THREAT]}).get_json()["results"][0]
    assert list(short) == [
        "labels",
        "scores",
        "alerts",
        "language",
        "unsupported_languages",
        "passages",
    ]  # one passage: the same shape
    (only,) = short["passages"]
    assert (only["start"], only["end"], only["labels"], only["scores"]) == (0, len(THREAT), short["labels"],
                                                                            short["scores"])  # fmt: skip
    model = client.get("/v1/model").get_json()
    assert short["language"] == "en" and "en" in model["supported_languages"]
    for label, alert in short["alerts"].items():
        assert alert["threshold"] == model["thresholds_by_language"].get("en", model["thresholds"])[label]
        assert alert["alert"] is (label in short["labels"]) and alert["max_score"] == short["scores"][label]
    never = client.post("/v1/predict", json={"text": TWO_SENTENCES, "passages": "never"}).get_json()["results"][0]
    assert list(never) == ["labels", "scores", "alerts", "language", "unsupported_languages"]
    # one meaning of "never" for texts and documents: the passages are left out, the scores stay the same
    as_document = client.post("/v1/predict", json={"documents": [{"text": TWO_SENTENCES}], "passages": "never"})
    assert never["scores"] == long["scores"] == as_document.get_json()["results"][0]["scores"]
    assert never["labels"] == long["labels"] and len(long["passages"]) == 2
    with_evidence = client.post("/v1/predict", json={"texts": [THREAT, TWO_SENTENCES], "evidence": 2}).get_json()
    first, second = with_evidence["results"]
    assert first["labels"] and set(first["passages"][0]["evidence"]) == set(first["labels"])
    assert all(len(terms) <= 2 for terms in first["passages"][0]["evidence"].values())
    assert all("evidence" in p for p in second["passages"])


# feedback limits and management


def test_feedback_text_limit_is_one_passage(client, app):
    limit = app.config["MAX_FEEDBACK_TEXT_CHARS"]
    assert limit == 2000 < app.config["MAX_TEXT_CHARS"]
    response = client.post("/v1/feedback", json={"text": "a" * (limit + 1), "labels": []})
    assert_error(response, 413, "text_too_long", f"text: has {limit + 1} characters; the limit is {limit}")
    items = {"items": [{"text": "ok", "labels": []}] * (app.config["MAX_FEEDBACK_ITEMS"] + 1)}
    assert_error(client.post("/v1/feedback", json=items), 413, "batch_too_large", "items: has 101 items; the limit "
                 "is 100")  # fmt: skip
    assert app.extensions["hta_store"].feedback_count() == 0


def _store_some(client, app):
    store = app.extensions["hta_store"]
    client.post("/v1/feedback", json={"text": "Cable cut.", "labels": ["sabotage_mention"], "document_id": "d1"})
    client.post("/v1/feedback", json={"items": [{"text": "Calm day.", "labels": []}, {"text": "We stand with you.",
                "labels": ["support_statement"], "document_id": 7}]})  # fmt: skip
    store.add_feedback([{"text": "From the tool.", "labels": ["sabotage_mention"], "source": "label-studio",
                         "source_project": "3", "source_ref": "task-9"}])  # fmt: skip
    return store


def test_feedback_list_filters_and_pages(client, app, admin_headers):
    _store_some(client, app)
    response = client.get("/v1/feedback", headers=admin_headers)
    assert response.status_code == 200
    page = response.get_json()
    assert [row["id"] for row in page["items"]] == [1, 2, 3, 4]
    assert page["next_after_id"] is None
    first = page["items"][0]
    assert {k: first[k] for k in ("text", "labels", "document_id", "source", "source_project", "source_ref")} == {
        "text": "Cable cut.",
        "labels": ["sabotage_mention"],
        "document_id": "d1",
        "source": "api",
        "source_project": None,
        "source_ref": None,
    }
    assert page["items"][3]["source"] == "label-studio" and page["items"][3]["source_ref"] == "task-9"

    def ids(query: str) -> list[int]:
        response = client.get(f"/v1/feedback?{query}", headers=admin_headers)
        assert response.status_code == 200, response.data
        return [row["id"] for row in response.get_json()["items"]]

    assert ids("label=sabotage_mention") == [1, 4]
    assert ids("document_id=7") == [3]
    assert ids("source=label-studio") == [4]
    assert ids("since=2000-01-01T00:00:00Z") == [1, 2, 3, 4]
    assert ids("until=2000-01-01T00:00:00") == []
    assert ids("since=2999-01-01T00:00:00%2B02:00") == []
    paged = client.get("/v1/feedback?limit=3", headers=admin_headers).get_json()
    assert [row["id"] for row in paged["items"]] == [1, 2, 3] and paged["next_after_id"] == 3
    assert ids("limit=3&after_id=3") == [4]


def test_feedback_list_errors(client, app_config, admin_headers):
    from service import create_app

    assert_error(client.get("/v1/feedback"), 401, "unauthorized", "missing bearer token")
    assert_error(client.get("/v1/feedback", headers={"Authorization": "Bearer x"}), 403, "forbidden")
    assert_error(client.get("/v1/feedback?limit=0", headers=admin_headers), 400, "invalid_request",
                 "limit: Input should be greater than or equal to 1")  # fmt: skip
    assert_error(client.get("/v1/feedback?since=yesterday", headers=admin_headers), 400, "invalid_request",
                 contains="since: ")  # fmt: skip
    assert_error(client.get("/v1/feedback?colour=red", headers=admin_headers), 400, "invalid_request",
                 "colour: unknown field")  # fmt: skip
    predict_only = create_app({**app_config, "PREDICT_TOKEN": "p"}).test_client()
    assert_error(predict_only.get("/v1/feedback", headers={"Authorization": "Bearer p"}), 403, "forbidden")


def test_feedback_delete(client, app, admin_headers):
    store = _store_some(client, app)
    assert_error(client.delete("/v1/feedback/2"), 401, "unauthorized")
    response = client.delete("/v1/feedback/2", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["deleted"]["text"] == "Calm day."
    assert store.get_feedback(2) is None and store.feedback_count() == 3
    assert_error(client.delete("/v1/feedback/2", headers=admin_headers), 404, "not_found", "feedback 2 not found")
    assert_error(client.delete(f"/v1/feedback/{2**70}", headers=admin_headers), 404, "not_found")
    assert_error(client.delete("/v1/feedback/abc", headers=admin_headers), 404, "not_found")


# the worker's read deadline, gunicorn's error pages, the port check


@pytest.mark.slow
def test_deadline_socket_bounds_a_dribbling_client():
    from service.worker import DeadlineSocket, ReadTimeout

    server, client = socket.socketpair()
    stop = threading.Event()

    def dribble():
        while not stop.is_set():
            client.send(b"G")
            time.sleep(0.05)

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        sock = DeadlineSocket(server, read_timeout=0.5)
        sock.start_request()
        started, got = time.monotonic(), b""
        with pytest.raises(ReadTimeout, match=r"not received within 0\.5 s"):
            while True:
                got += sock.recv(1)
        assert 0.45 < time.monotonic() - started < 1.5
        assert got.startswith(b"GGG")
    finally:
        stop.set()
        thread.join()
        server.close()
        client.close()


def test_gunicorn_errors_are_json():
    import json

    from service.worker import write_json_error

    a, b = socket.socketpair()
    with a, b:
        write_json_error(a, 431, "Request Header Fields Too Large", "Error parsing headers: 'limit request headers'")
        head, _, body = b.recv(4096).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    assert json.loads(body) == {
        "error": {"code": "headers_too_large", "message": "Error parsing headers: 'limit request headers'"}
    }


def test_port_problem_names_a_taken_port():
    from service.__main__ import port_problem

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert port_problem("127.0.0.1", port) == (
            f"127.0.0.1:{port} is already in use (another server, or one still shutting down)"
        )
    assert port_problem("127.0.0.1", port) is None
