"""The monitor (issue 24): per-source counts in /metrics and GET /v1/monitor, bounded sources, drift (PSI and
the alert-rate ratio against the version's held-out reference), source-name validation, shared state."""

from __future__ import annotations

import collections
import itertools
import json
import multiprocessing
import re

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.monitor import observe_many, psi
from service.monitor_window import ROW, ScoreWindow, SourceNames, version_key
from tests.small_model import unseen_corpus_texts

SABOTAGE = "Saboteurs cut the undersea cable and blew up the gas pipeline."
SUPPORT = "We stand with Ukraine and will keep supporting its people."


def _off_register(n: int) -> list[str]:
    """Kitchen talk: text of a register the model never saw."""
    dishes = ["the risotto", "a lemon tart", "the onion soup", "these pancakes", "a plum cake", "the dumplings"]
    steps = ["Stir {d} gently", "Season {d} with salt and pepper", "Bake {d} until golden", "Serve {d} warm"]
    ends = ["and enjoy it with friends.", "before the guests arrive.", "on a low flame.", "with fresh herbs."]
    texts = [f"{s.format(d=d)} {e}" for s, d, e in itertools.product(steps, dishes, ends)]
    return (texts * (n // len(texts) + 1))[:n]


def _metric(text: str, name: str, **labels) -> float:
    """The value of one series of a /metrics page (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if found == labels:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _passages_and_alerts(results: list[dict]) -> tuple[int, dict[str, int]]:
    passages, alerts = 0, {}
    for result in results:
        for passage in result["passages"]:
            if passage["supported"]:
                passages += 1
                for label in passage["labels"]:
                    alerts[label] = alerts.get(label, 0) + 1
    return passages, alerts


def test_two_sources_with_different_label_mixes_are_counted_apart(client):
    before = client.get("/metrics").get_data(as_text=True)
    sabotage = [f"{SABOTAGE} Report {i}." for i in range(30)]
    support = [f"{SUPPORT} Statement {i}." for i in range(20)] + ["The weather was mild on Tuesday."] * 5
    first = client.post("/v1/predict", json={"texts": sabotage, "source": "wire-a"})
    second = client.post(
        "/v1/predict", json={"documents": [{"id": i, "text": t, "source": "wire-b"} for i, t in enumerate(support)]}
    )
    assert first.status_code == second.status_code == 200
    assert {r["source"] for r in first.get_json()["results"]} == {"wire-a"}
    assert {r["source"] for r in second.get_json()["results"]} == {"wire-b"}
    a_passages, a_alerts = _passages_and_alerts(first.get_json()["results"])
    b_passages, b_alerts = _passages_and_alerts(second.get_json()["results"])
    assert a_alerts.get("sabotage_mention", 0) > b_alerts.get("sabotage_mention", 0)
    assert b_alerts.get("support_statement", 0) > a_alerts.get("support_statement", 0)

    after = client.get("/metrics").get_data(as_text=True)
    for source, passages, alerts in (("wire-a", a_passages, a_alerts), ("wire-b", b_passages, b_alerts)):
        scored = _metric(after, "hta_source_passages_scored_total", source=source)
        assert scored - _metric(before, "hta_source_passages_scored_total", source=source) == passages
        for label in ("hybrid_threat_warning", "sabotage_mention", "support_statement"):
            fired = _metric(after, "hta_passage_alerts_total", label=label, source=source) - _metric(
                before, "hta_passage_alerts_total", label=label, source=source
            )
            assert fired == alerts.get(label, 0), (source, label)
            assert _metric(after, "hta_monitor_alert_rate", label=label, source=source) == pytest.approx(
                alerts.get(label, 0) / passages, abs=1e-6
            )
        assert _metric(after, "hta_monitor_window_passages", source=source) == passages
    assert 'hta_passage_score_bucket{label="sabotage_mention",le="1.0"}' in after
    languages = collections.Counter(
        (passage["language"] or "und", str(passage["supported"]).lower())
        for response in (first, second)
        for result in response.get_json()["results"]
        for passage in result["passages"]
    )
    for (language, supported), n in languages.items():
        found = _metric(after, "hta_passages_by_language_total", language=language, supported=supported)
        assert found - _metric(before, "hta_passages_by_language_total", language=language, supported=supported) == n

    report = client.get("/v1/monitor")
    assert report.status_code == 200
    body = report.get_json()
    assert body["sources_tracked"] == ["wire-a", "wire-b"]
    assert list(body["sources"]) == ["all", "wire-a", "wire-b"]
    assert body["sources"]["all"]["passages"] == a_passages + b_passages == body["window"]["passages"]
    for source, passages, alerts in (("wire-a", a_passages, a_alerts), ("wire-b", b_passages, b_alerts)):
        figures = body["sources"][source]
        assert figures["passages"] == passages
        for label, entry in figures["labels"].items():
            assert entry["alerts"] == alerts.get(label, 0)
            assert entry["alert_rate"] == round(alerts.get(label, 0) / passages, 6)
            assert entry["flags"] == []  # fewer than HTA_MONITOR_MIN_PASSAGES (200) passages
    timeline = body["timeline"]
    assert sum(timeline["passages"]) == a_passages + b_passages and len(timeline["times"]) == 20
    assert timeline["times"] == sorted(timeline["times"])
    for label, rates in timeline["alert_rates"].items():  # the spans' rates weigh up to the window's
        weighted = sum(rate * n for rate, n in zip(rates, timeline["passages"], strict=True))
        assert weighted == pytest.approx(body["sources"]["all"]["labels"][label]["alerts"], abs=1e-3)
    expected = client.get("/v1/model").get_json()
    assert body["model_version"] == expected["version"]
    assert body["reference"]["computed_from"] == "held-out split, scored by the held-out model"


def test_sources_beyond_the_limit_are_counted_as_other(app_config):
    from service import create_app

    client = create_app({**app_config, "MONITOR_MAX_SOURCES": 2}).test_client()
    for name in ("feed-1", "feed-2", "feed-3", "feed-4"):
        assert client.post("/v1/predict", json={"text": SABOTAGE, "source": name}).status_code == 200
    response = client.post("/v1/predict", json={"text": SUPPORT})
    assert response.get_json()["results"][0].get("source") is None
    body = client.get("/v1/monitor").get_json()
    assert body["sources_tracked"] == ["feed-1", "feed-2"] and body["sources_limit"] == 2
    assert {name: figures["passages"] for name, figures in body["sources"].items()} == {
        "all": 5, "feed-1": 1, "feed-2": 1, "other": 2, "unnamed": 1
    }  # fmt: skip
    text = client.get("/metrics").get_data(as_text=True)
    assert _metric(text, "hta_monitor_window_passages", source="other") == 2
    assert 'hta_source_passages_scored_total{source="feed-3"}' not in text


def test_off_register_text_raises_psi_and_the_drift_flag(app_config):
    from service import create_app

    settings = {**app_config, "MONITOR_WINDOW": 1000, "MONITOR_MIN_PASSAGES": 200}
    client = create_app(settings).test_client()
    calm_texts = unseen_corpus_texts(1000)
    assert client.post("/v1/predict", json={"texts": calm_texts, "passages": "never"}).status_code == 200
    calm = client.get("/v1/monitor").get_json()["sources"]["all"]
    assert calm["passages"] == 1000
    # The two labels with enough held-out positives in the small test model (its held-out split has a
    # handful of sabotage_mention rows, so that label's reference is too coarse to call in-register text calm).
    for label in ("hybrid_threat_warning", "support_statement"):
        entry = calm["labels"][label]
        assert entry["psi"] < 0.2, (label, entry)
        assert [flag for flag in entry["flags"] if flag["flag"] == "drift"] == [], (label, entry)

    assert client.post("/v1/predict", json={"texts": _off_register(1000)}).status_code == 200
    figures = client.get("/v1/monitor").get_json()["sources"]["all"]
    assert figures["passages"] == 1000  # the window holds the newest 1000 only: all of them kitchen talk
    text = client.get("/metrics").get_data(as_text=True)
    for label, entry in figures["labels"].items():
        assert entry["psi"] > max(0.2, calm["labels"][label]["psi"]), (label, entry)
        assert {"flag": "drift", "psi": entry["psi"], "threshold": 0.2} in entry["flags"]
        assert _metric(text, "hta_monitor_flag", label=label, source="all", flag="drift") == 1
        assert _metric(text, "hta_monitor_psi", label=label, source="all") == entry["psi"]


def test_alert_rate_flags_name_the_ratio_and_threshold(app_config):
    from service import create_app

    client = create_app({**app_config, "MONITOR_MIN_PASSAGES": 20}).test_client()
    client.post("/v1/predict", json={"texts": [f"{SABOTAGE} Again {i}." for i in range(25)], "source": "x"})
    entry = client.get("/v1/monitor").get_json()["sources"]["x"]["labels"]["sabotage_mention"]
    assert entry["alert_rate_ratio"] == round(entry["alert_rate"] / entry["expected_alert_rate"], 6)
    assert {"flag": "alert_rate_high", "alert_rate_ratio": entry["alert_rate_ratio"], "threshold": 2.0} in entry[
        "flags"
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": SABOTAGE, "source": "x" * 10_000}, "source: must have 1 to 256 characters"),
        (
            {"text": SABOTAGE, "source": "wire\nB"},
            "source: contains a control character (U+000A) at character 4: a source name is printable text",
        ),
        (
            {"documents": [{"text": SABOTAGE, "source": "ok"}, {"text": SABOTAGE, "source": "tab\there"}]},
            "documents[1].source: contains a control character (U+0009) at character 3: a source name is "
            "printable text",
        ),
        (
            {"documents": [{"text": SABOTAGE, "source": "\x85"}]},
            "documents[0].source: contains a control character (U+0085) at character 0: a source name is "
            "printable text",
        ),
    ],
)
def test_bad_source_names_are_refused_and_nothing_is_counted(shared_client, body, message):
    before = shared_client.get("/v1/monitor").get_json()
    response = shared_client.post("/v1/predict", json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "invalid_request", "message": message}}
    assert shared_client.get("/v1/monitor").get_json()["sources"] == before["sources"]


def test_observe_many_gives_the_series_observe_gives():
    values = np.array([0.0, 0.004, 0.01, 0.2, 0.2000001, 0.55, 0.99, 1.0])
    series = []
    for bulk in (False, True):
        registry = CollectorRegistry()
        child = Histogram("h", "h", ["label"], buckets=(0.01, 0.2, 0.5, 1.0), registry=registry).labels("a")
        if bulk:
            observe_many(child, values)
        else:
            for value in values:
                child.observe(float(value))
        series.append(generate_latest(registry).decode().replace("h_created", "#").split("#")[0])
    assert series[0] == series[1]


def test_psi_is_zero_on_the_reference_and_grows_with_the_shift():
    expected = np.full(10, 0.1)
    assert psi(expected, expected) == 0.0
    assert 0 < psi(np.array([0.2] + [0.8 / 9] * 9), expected) < psi(np.array([1.0] + [0.0] * 9), expected)


def _child_registers(directory, names, queue):
    registry = SourceNames(directory, 3)
    queue.put([registry.index(name) for name in names])
    window = ScoreWindow(directory, 4)
    rows = np.zeros(2, dtype=ROW)
    rows["time"], rows["version"], rows["source"] = [1.0, 2.0], version_key("v"), [0, 1]
    window.write(rows)


def test_workers_share_the_source_list_and_the_window(tmp_path):
    """Two processes (as two gunicorn workers): the first three names any of them sees are kept, in one list;
    a reader merges both rings."""
    parent_names = SourceNames(tmp_path, 3)
    assert parent_names.index("alpha") == 0
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_registers, args=(tmp_path, ["beta", "alpha", "gamma", "delta"], queue))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [1, 0, 2, -2]  # delta is the fourth name: other
    assert parent_names.index("gamma") == 2 and parent_names.index("epsilon") == -2
    assert parent_names.names() == ["alpha", "beta", "gamma"]
    assert (tmp_path / "sources.txt").read_text() == "alpha\nbeta\ngamma\n"

    window = ScoreWindow(tmp_path, 4)
    rows = np.zeros(3, dtype=ROW)
    rows["time"], rows["version"], rows["source"] = [1.5, 2.5, 3.5], version_key("v"), [2, 2, 2]
    window.write(rows)
    merged = window.recent("v")
    assert merged["time"].tolist() == [3.5, 2.5, 2.0, 1.5]  # newest four of both rings
    assert window.recent("another").size == 0


def test_a_version_stored_without_a_reference_reports_rates_but_no_drift(app_config):
    from classifier.versions import resolve_version_dir
    from service import create_app

    manifest_path = resolve_version_dir(app_config["MODELS_DIR"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["score_reference"]
    manifest_path.write_text(json.dumps(manifest))
    client = create_app({**app_config, "MONITOR_MIN_PASSAGES": 1}).test_client()
    assert client.post("/v1/predict", json={"text": SABOTAGE}).status_code == 200
    body = client.get("/v1/monitor").get_json()
    assert body["reference"] is None
    entry = body["sources"]["all"]["labels"]["sabotage_mention"]
    assert entry["alert_rate"] is not None
    assert (entry["expected_alert_rate"], entry["alert_rate_ratio"], entry["psi"], entry["flags"]) == (
        None, None, None, []
    )  # fmt: skip
    text = client.get("/metrics").get_data(as_text=True)
    assert "hta_monitor_psi{" not in text and "hta_monitor_expected_alert_rate{" not in text
