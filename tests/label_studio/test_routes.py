"""Flask test-client tests of /label-studio/health, /setup and /predict, and of their authentication."""

from __future__ import annotations

import hmac

import pytest

from classifier.versions import CURRENT_FILE
from service.label_studio.errors import reason_phrase
from service.label_studio.predictions import task_score
from tests.label_studio.conftest import (
    LABELS,
    MULTI_CONFIG,
    PASSWORD,
    SABOTAGE_ONLY_CONFIG,
    SINGLE_CONFIG,
    USER,
    basic,
)

SABOTAGE = "Saboteurs cut the undersea data cable and set fire to a rail signalling cabinet."
SUPPORT = "We stand with Ukraine and will keep sending humanitarian aid to its people."
NEUTRAL = "The city council approved the new budget for public libraries on Tuesday."
ROUTES = [
    ("GET", "/label-studio/", None),
    ("GET", "/label-studio/health", None),
    ("POST", "/label-studio/setup", {"project": "1.1700000000", "schema": MULTI_CONFIG}),
    ("POST", "/label-studio/predict", {"tasks": [{"id": 1, "data": {"text": SABOTAGE}}], "label_config": MULTI_CONFIG}),
    ("POST", "/label-studio/webhook", {"action": "PROJECT_UPDATED", "project": {"id": 1}}),
]


def call(client, method: str, path: str, body=None, headers=None):
    return client.open(path, method=method, json=body, headers=headers or {})


def assert_error(response, status: int, code: str, message: str) -> None:
    """The ML backend's error shape, with the message in the status line's reason phrase too."""
    assert response.status_code == status, response.data[:300]
    assert response.get_json() == {"status": status, "detail": message, "error": {"code": code, "message": message}}
    assert response.status == f"{status} {reason_phrase(message)}"


# authentication


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_the_basic_credentials(shared_client, auth, method, path, body):
    response = call(shared_client, method, path, body)
    assert_error(response, 401, "unauthorized", "missing HTTP Basic credentials")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="label-studio"'
    assert call(shared_client, method, path, body, auth).status_code in (200, 202)


@pytest.mark.parametrize(
    "headers",
    [
        basic(USER, PASSWORD + "x"),
        basic(USER.upper(), PASSWORD),
        basic("", ""),
        basic(USER, ""),
    ],
    ids=["wrong-password", "wrong-user", "empty", "no-password"],
)
def test_wrong_credentials_are_refused(shared_client, headers):
    response = shared_client.get("/label-studio/health", headers=headers)
    assert_error(response, 401, "unauthorized", "wrong HTTP Basic user name or password")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="label-studio"'


@pytest.mark.parametrize("header", ["Bearer " + PASSWORD, "Basic !!!not-base64", "Digest username=x"])
def test_other_schemes_and_broken_headers_are_missing_credentials(shared_client, header):
    response = shared_client.get("/label-studio/health", headers={"Authorization": header})
    assert_error(response, 401, "unauthorized", "missing HTTP Basic credentials")


def test_user_and_password_are_both_compared_in_constant_time(client, monkeypatch):
    compared, real = [], hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("service.label_studio.access.hmac.compare_digest", spy)
    assert client.get("/label-studio/health", headers=basic("intruder", "guess")).status_code == 401
    assert compared == [(b"intruder", USER.encode()), (b"guess", PASSWORD.encode())]


@pytest.mark.parametrize(("user", "password"), [(None, None), (USER, None), (None, PASSWORD), ("", "")])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_unset_credentials_disable_the_routes(shared_ls_app, auth, user, password, method, path, body):
    client = shared_ls_app(LS_BASIC_AUTH_USER=user, LS_BASIC_AUTH_PASS=password).test_client()
    response = call(client, method, path, body, auth)
    assert_error(
        response,
        403,
        "label_studio_disabled",
        "the Label Studio routes are disabled: set HTA_LS_BASIC_AUTH_USER and HTA_LS_BASIC_AUTH_PASS "
        "(or HTA_LS_AUTH=none when Label Studio runs on this machine only)",
    )


def test_auth_none_opens_the_routes(make_app):
    client = make_app(LS_AUTH="none", LS_BASIC_AUTH_USER=None, LS_BASIC_AUTH_PASS=None).test_client()
    for method, path, body in ROUTES:
        assert call(client, method, path, body).status_code == 200


def test_settings_come_from_the_environment(make_app, monkeypatch, ls_config):
    for key in ("LS_AUTH", "LS_BASIC_AUTH_USER", "LS_BASIC_AUTH_PASS"):
        ls_config.pop(key)
    monkeypatch.setenv("HTA_LS_BASIC_AUTH_USER", "env-user")
    monkeypatch.setenv("HTA_LS_BASIC_AUTH_PASS", "env-pass")
    from service import create_app

    client = create_app(ls_config).test_client()
    assert client.get("/label-studio/health", headers=basic("env-user", "env-pass")).status_code == 200
    assert client.get("/label-studio/health", headers=basic(USER, PASSWORD)).status_code == 401
    monkeypatch.setenv("HTA_LS_AUTH", "none")
    assert create_app(ls_config).test_client().get("/label-studio/health").status_code == 200


def test_unknown_auth_mode_stops_the_app(make_app):
    with pytest.raises(ValueError) as caught:
        make_app(LS_AUTH="token")
    assert str(caught.value) == "HTA_LS_AUTH: expected one of basic, none, got 'token'"


def test_other_routes_keep_their_own_auth(client, auth):
    assert client.post("/v1/predict", json={"text": SABOTAGE}).status_code == 200
    assert client.post("/v1/retrain", headers=auth).status_code == 403


# health


@pytest.mark.parametrize("path", ["/label-studio/", "/label-studio/health"])
def test_health(client, auth, predictor, path):
    response = client.get(path, headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "UP",
        "model_class": "HybridThreatClassifier",
        "model_version": predictor.version,
        "labels": list(LABELS),
    }


def test_health_without_a_model_is_503(make_app, auth, models_copy):
    (models_copy / CURRENT_FILE).unlink()
    response = make_app().test_client().get("/label-studio/health", headers=auth)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"
    assert response.get_json()["detail"].startswith("no model loaded: ")


# setup


def test_setup_answers_the_model_version(client, auth, predictor):
    body = {"project": "4.1764166400", "schema": MULTI_CONFIG, "hostname": "http://localhost:8080",
            "access_token": "abc", "extra_params": None}  # fmt: skip
    response = client.post("/label-studio/setup", json=body, headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {
        "model_version": predictor.version,
        "from_name": "labels",
        "to_name": "text",
        "labels": list(LABELS),
    }


def test_setup_accepts_a_subset_and_aliases(shared_client, auth):
    for config, labels in ((SABOTAGE_ONLY_CONFIG, ["sabotage_mention"]), (SINGLE_CONFIG, list(LABELS))):
        response = shared_client.post("/label-studio/setup", json={"project": "4.1", "schema": config}, headers=auth)
        assert response.status_code == 200
        assert response.get_json()["labels"] == labels


def test_setup_refuses_a_config_without_choices(shared_client, auth):
    config = '<View><Text name="text" value="$text"/><TextArea name="note" toName="text"/></View>'
    response = shared_client.post("/label-studio/setup", json={"project": "4.1", "schema": config}, headers=auth)
    message = (
        "the labelling config has no <Choices> control over a <Text> object "
        "(<Text> objects: text; <Choices> controls: none)"
    )
    assert_error(response, 400, "invalid_label_config", message)
    assert response.status == f"400 {message}"


def test_setup_refuses_choices_that_are_not_model_labels(shared_client, auth):
    config = MULTI_CONFIG.replace('"support_statement"', '"Positive"')
    response = shared_client.post("/label-studio/setup", json={"project": "4.1", "schema": config}, headers=auth)
    assert_error(
        response,
        400,
        "invalid_label_config",
        '<Choices name="labels"> has choices that are not model labels: Positive; '
        "the model's labels are: hybrid_threat_warning, sabotage_mention, support_statement",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"project": "4.1"}, "schema: Field required"),
        ({"project": "4.1", "schema": 5}, "schema: Input should be a valid string"),
        (
            {"project": [1], "schema": MULTI_CONFIG},
            "project.str: Input should be a valid string; project.int: Input should be a valid integer",
        ),
    ],
)
def test_setup_bad_bodies(shared_client, auth, body, message):
    assert_error(shared_client.post("/label-studio/setup", json=body, headers=auth), 400, "invalid_request", message)


# predict


def predict(client, auth, tasks, config=MULTI_CONFIG):
    return client.post(
        "/label-studio/predict",
        json={"tasks": tasks, "label_config": config, "project": "4.1764166400", "params": {"context": None}},
        headers=auth,
    )


def test_predict_one_result_per_task_in_order(client, auth, predictor):
    texts = [SABOTAGE, NEUTRAL, SUPPORT]
    tasks = [{"id": 10 + i, "data": {"text": text, "source": "x"}, "annotations": [], "predictions": []}
             for i, text in enumerate(texts)]  # fmt: skip
    response = predict(client, auth, tasks)
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == predictor.version
    body = response.get_json()
    assert body["model_version"] == predictor.version
    expected = predictor.predict_documents(texts, passages="never", evidence_top_k=0)
    assert len(body["results"]) == 3
    for result, want in zip(body["results"], expected, strict=True):
        assert result["model_version"] == predictor.version
        assert result["score"] == task_score(want["scores"], predictor.thresholds_for("en"), LABELS)
        assert 0.0 <= result["score"] <= 1.0
        if want["labels"]:
            assert result["result"] == [
                {"from_name": "labels", "to_name": "text", "type": "choices", "value": {"choices": want["labels"]}}
            ]
        else:
            assert result["result"] == []
    # what the model says about these sentences, so the test fails if the results are not the model's
    assert body["results"][0]["result"][0]["value"]["choices"] == ["sabotage_mention"]
    assert body["results"][1]["result"] == []
    assert body["results"][2]["result"][0]["value"]["choices"] == ["support_statement"]


def test_long_task_is_a_document_labelled_by_its_passages(client, auth, predictor):
    filler = " ".join(NEUTRAL for _ in range(12))
    document = f"{filler} {SABOTAGE} {filler} {SUPPORT}"
    detailed = predictor.predict_documents([document], passages="always", evidence_top_k=0)[0]
    assert len(detailed["passages"]) == 26
    body = predict(client, auth, [{"id": 1, "data": {"text": document}}]).get_json()
    [result] = body["results"]
    # a label is chosen when at least one passage reaches its threshold; its score is the best passage's
    assert result["result"][0]["value"]["choices"] == ["sabotage_mention", "support_statement"]
    fired = sorted({label for passage in detailed["passages"] for label in passage["labels"]})
    assert fired == ["sabotage_mention", "support_statement"]
    best = {label: max(p["scores"][label] for p in detailed["passages"]) for label in LABELS}
    assert result["score"] == task_score(best, predictor.thresholds_for("en"), LABELS)


def test_predict_single_choice_and_data_key_of_the_config(shared_client, auth):
    body = predict(shared_client, auth, [{"id": 1, "data": {"passage": SABOTAGE}}], SINGLE_CONFIG).get_json()
    assert body["results"][0]["result"] == [
        {"from_name": "label", "to_name": "body", "type": "choices", "value": {"choices": ["sabotage_mention"]}}
    ]


def test_predict_subset_offers_only_its_choices(client, auth, predictor):
    body = predict(client, auth, [{"id": 1, "data": {"text": SUPPORT}}], SABOTAGE_ONLY_CONFIG).get_json()
    [result] = body["results"]
    assert result["result"] == []
    scores = predictor.predict_documents([SUPPORT], passages="never", evidence_top_k=0)[0]["scores"]
    assert result["score"] == task_score(scores, predictor.thresholds_for("en"), ("sabotage_mention",))


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"label_config": MULTI_CONFIG}, 400, "invalid_request", "tasks: Field required"),
        ({"tasks": [], "label_config": MULTI_CONFIG}, 400, "invalid_request",
         "tasks: List should have at least 1 item after validation, not 0"),
        ({"tasks": "abc", "label_config": MULTI_CONFIG}, 400, "invalid_request", "tasks: Input should be a valid list"),
        ({"tasks": [{"id": 1}], "label_config": MULTI_CONFIG}, 400, "invalid_request", "tasks[0].data: Field required"),
        ({"tasks": [{"id": 1, "data": {"text": "x"}}]}, 400, "invalid_request", "label_config: Field required"),
        ({"tasks": [{"id": 7, "data": {"body": "x"}}], "label_config": MULTI_CONFIG}, 400, "missing_text",
         "task 7: data.text is missing"),
        ({"tasks": [{"data": {"text": 5}}], "label_config": MULTI_CONFIG}, 400, "invalid_request",
         "tasks[0]: data.text is a int, not a string"),
        ({"tasks": [{"id": 1, "data": {"text": "ok"}}, {"id": 2, "data": {"text": "  "}}],
          "label_config": MULTI_CONFIG}, 400, "empty_text", "task 2: data.text is empty"),
        ({"tasks": [{"id": 1, "data": {"text": "x"}}], "label_config": "<View/>"}, 400, "invalid_label_config",
         'the labelling config has no <Text> object showing task data (e.g. <Text name="text" value="$text"/>)'),
        ([1, 2], 400, "invalid_request", "the JSON body must be an object"),
    ],
)  # fmt: skip
def test_predict_bad_bodies(shared_client, auth, body, status, code, message):
    response = shared_client.post("/label-studio/predict", json=body, headers=auth)
    assert_error(response, status, code, message)


def test_predict_not_json_and_empty_body(shared_client, auth):
    response = shared_client.post(
        "/label-studio/predict", data=b"{tasks: 1}", content_type="application/json", headers=auth
    )
    assert_error(
        response, 400, "invalid_json",
        "the request body is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    )  # fmt: skip
    response = shared_client.post("/label-studio/predict", data=b"", headers=auth)
    assert_error(response, 400, "invalid_json", "the request body is empty: send a JSON object")
    response = shared_client.post("/label-studio/predict", data=b"\xff\xfe", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_predict_deeply_nested_json_is_400(shared_client, auth):
    body = b'{"tasks": ' + b"[" * 100 + b"]" * 100 + b"}"
    response = shared_client.post("/label-studio/predict", data=body, content_type="application/json", headers=auth)
    assert_error(
        response, 400, "invalid_json", "the request body is not JSON: arrays or objects nested deeper than 64 levels"
    )


def test_predict_limits(make_app, auth):
    client = make_app(MAX_BATCH=2, MAX_TEXT_CHARS=50).test_client()
    tasks = [{"id": i, "data": {"text": "short"}} for i in range(3)]
    assert_error(predict(client, auth, tasks), 413, "batch_too_large", "'tasks' has 3 items; the limit is 2")
    response = predict(client, auth, [{"id": 9, "data": {"text": "x" * 51}}])
    assert_error(response, 413, "text_too_long", "task 9: data.text has 51 characters; the limit is 50")
    client = make_app(MAX_BODY_BYTES=100).test_client()
    response = predict(client, auth, [{"id": 9, "data": {"text": "x" * 200}}])
    sent = response.request.content_length
    assert sent > 100
    message = f"the declared Content-Length {sent} is over the limit of 100 bytes"
    assert_error(response, 413, "payload_too_large", message)


def test_predict_without_a_model_is_503(make_app, auth, models_copy):
    (models_copy / CURRENT_FILE).unlink()
    response = predict(make_app().test_client(), auth, [{"id": 1, "data": {"text": SABOTAGE}}])
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"


def test_wrong_method_and_unknown_route(shared_client, auth):
    assert shared_client.get("/label-studio/predict", headers=auth).status_code == 405
    assert shared_client.get("/label-studio/nope", headers=auth).status_code == 404


def test_unexpected_failure_is_a_500_in_the_same_shape(client, auth, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("service.label_studio.routes.to_prediction", broken)
    response = predict(client, auth, [{"id": 1, "data": {"text": SABOTAGE}}])
    assert_error(response, 500, "internal_error", "internal server error")


def test_predict_a_task_in_a_language_the_model_does_not_read(client, auth, predictor):
    russian = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
    assert "ru" not in predictor.languages
    body = predict(client, auth, [{"id": 1, "data": {"text": russian}}]).get_json()
    # nothing pre-selected, and the least certain score: a person must read it (never made-up zeros)
    assert body["results"] == [{"result": [], "score": 0.0, "model_version": predictor.version}]
