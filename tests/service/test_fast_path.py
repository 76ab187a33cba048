"""The predict fast path (`service.schemas.fast_predict_request`) answers exactly what full validation
does: the same request model for every body it takes, nothing (full validation then decides, with its
own messages) for every other; and over HTTP the same response, field by field, and the same counters."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from service.config import load_config
from service.schemas import PredictRequest, fast_predict_request

RUSSIAN = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
GERMAN = "Saboteure haben in der Nacht das Unterseekabel in der Ostsee durchtrennt."
TEXTS = [
    "Saboteurs cut the undersea cable. We stand with Ukraine.",
    "Officials warned that hostile state actors are preparing sabotage against the power grid.",
    "The weather in Kyiv was mild.",
    GERMAN,
    RUSSIAN,
    f"Saboteurs blew up the railway bridge near the border last night. {RUSSIAN}",
    "  padded text with spaces\n",
    "12345 !!!",
    "x" * 100,
]
CONFIG = load_config({"MAX_TEXT_CHARS": 1000})
CONTEXT = {"MAX_TEXT_CHARS": 1000, "MAX_BATCH": 1000, "MAX_FEEDBACK_TEXT_CHARS": 2000, "MAX_FEEDBACK_ITEMS": 100,
           "labels": None}  # fmt: skip
ADAPTER = TypeAdapter(PredictRequest)
# Bodies full validation refuses (each must be left to it) or that are not the one-text shape.
OTHERS = [
    {"text": ""},
    {"text": "   \n\t"},
    {"text": "nul \x00 inside"},
    {"text": "lone \ud800 surrogate"},
    {"text": "x" * 1001},
    {"text": 5},
    {"text": None},
    {"text": ["a"]},
    {"texts": ["a"]},
    {"text": "a", "passages": "never"},
    {"text": "a", "extra": 1},
    {},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("text", TEXTS)
def test_fast_model_equals_validated_model(text):
    fast = fast_predict_request({"text": text}, CONFIG)
    full = ADAPTER.validate_python({"text": text}, context=CONTEXT)
    assert fast is not None
    assert fast.model_dump() == full.model_dump()
    assert fast.model_fields_set == full.model_fields_set == {"text"}


@pytest.mark.parametrize("body", OTHERS, ids=repr)
def test_other_bodies_are_left_to_full_validation(body):
    assert fast_predict_request(body, CONFIG) is None
    try:
        ADAPTER.validate_python(body, context=CONTEXT)
    except ValidationError:
        return
    assert isinstance(body, dict) and list(body) != ["text"]  # valid, but not the fast path's shape


COUNTER = re.compile(r"^(hta_passages_scored_total|hta_alerts_total|hta_passages_unsupported_total)(\{[^}]*\})? (\S+)$")


def counters(client) -> dict:
    """The predict counters of /metrics: name{labels} -> value."""
    page = client.get("/metrics").get_data(as_text=True)
    found = {}
    for line in page.splitlines():
        match = COUNTER.match(line)
        if match:
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


def delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}


@pytest.mark.parametrize("text", TEXTS)
def test_http_response_and_counters_match_the_full_path(client, text):
    # {"text": t, "passages": "auto"} asks for the same thing (auto is a text's default) but is not the
    # fast path's shape, so it goes through full validation.
    start = counters(client)
    fast = client.post("/v1/predict", json={"text": text})
    middle = counters(client)
    full = client.post("/v1/predict", json={"text": text, "passages": "auto"})
    end = counters(client)
    assert fast.status_code == full.status_code == 200
    assert fast.content_type == full.content_type == "application/json"
    assert fast.headers["X-Model-Version"] == full.headers["X-Model-Version"]
    fast_body, full_body = fast.get_json(), full.get_json()
    assert fast_body == full_body
    (result,) = fast_body["results"]
    assert set(result) == {"labels", "scores", "alerts", "language", "unsupported_languages", "passages"}
    for passage in result["passages"]:
        assert {"language", "supported"} <= set(passage)
    assert delta(start, middle) == delta(middle, end)
    assert delta(start, middle)["hta_passages_scored_total"] == len(result["passages"])
    if "ru" in result["unsupported_languages"]:
        assert delta(start, middle)['hta_passages_unsupported_total{language="ru"}'] == 1
        assert any(alert["alert"] is None and alert["reason"] for alert in result["alerts"].values())


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"text": ""}, 400, "text: is empty"),
        ({"text": "a\x00b"}, 400, "text: contains a NUL character (U+0000)"),
        ({"text": 5}, 400, "text: Input should be a valid string"),
    ],
)
def test_refused_one_text_bodies_keep_their_messages(shared_client, body, status, message):
    response = shared_client.post("/v1/predict", json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["message"] == message
