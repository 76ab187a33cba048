"""The review queue with a team (issue 22): overlap, leases, concurrent analysts over real HTTP."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter

import pytest
from werkzeug.serving import make_server

from service.analysts import add_analyst
from service.review import store as queue_module
from tests.conftest import ADMIN

TEXTS = [
    "Investigators suspect the substation fire was deliberate sabotage.",
    "The council approved the new library budget.",
    "Officials warned of a coordinated disinformation campaign before the vote.",
    "Our country stands firmly with Ukraine.",
    "Divers found explosives attached to the pipeline near the harbour.",
    "The ferry terminal reopened on Tuesday after repairs.",
    "Unknown drones were seen over the power plant for the third night.",
    "Hybrid cars now make up a third of new sales in the region.",
]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_app(app_config, tmp_path, overlap: int, names=("ana", "bo", "cy")):
    from service import create_app

    path = tmp_path / "analysts"
    tokens = {name: add_analyst(path, name, "analyst") for name in names}
    config = {**app_config, "ANALYSTS_FILE": str(path), "LABELS_OPEN": False, "QUEUE_OVERLAP": overlap,
              "QUEUE_LEASE_SECONDS": 60.0}  # fmt: skip
    app = create_app(config)
    response = app.test_client().post(
        "/v1/queue", json={"passages": [{"text": text} for text in TEXTS]}, headers=bearer(ADMIN)
    )
    assert response.status_code == 201 and response.get_json()["added"] == len(TEXTS)
    return app, tokens


def labels_per_item(app) -> Counter:
    with app.extensions["hta_store"].connect() as conn:  # the app's store, either engine
        return Counter(row[0] for row in conn.execute("SELECT item_id FROM queue_labels"))


@pytest.mark.slow
def test_concurrent_analysts_over_http_label_each_passage_exactly_overlap_times(app_config, tmp_path):
    app, tokens = make_app(app_config, tmp_path, overlap=2)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    posted: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def call(method, path, token, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {**bearer(token), "Content-Type": "application/json"}
        with urllib.request.urlopen(urllib.request.Request(base + path, data, headers, method=method)) as answer:
            return answer.status, json.loads(answer.read())

    def analyst(name):
        try:
            while True:
                status, page = call("GET", "/v1/queue?limit=2", tokens[name])
                assert status == 200
                if not page["items"]:
                    return
                for item in page["items"]:
                    status, _ = call("POST", f"/v1/queue/{item['id']}/label", tokens[name], {"labels": []})
                    assert status == 200
                    with lock:
                        posted[(item["id"], name)] += 1
        except Exception as exc:  # reported by the main thread
            errors.append(f"{name}: {exc!r}")

    workers = [threading.Thread(target=analyst, args=(name,)) for name in tokens]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    server.shutdown()
    assert errors == []
    assert all(count == 1 for count in posted.values())  # no analyst was offered a passage twice
    per_item = Counter(item_id for item_id, _name in posted)
    assert len(per_item) == len(TEXTS) and set(per_item.values()) == {2}  # none lost, none beyond overlap
    assert set(labels_per_item(app).values()) == {2}
    client = app.test_client()
    assert client.get("/v1/queue", headers=bearer(ADMIN)).get_json()["counts"]["labelled"] == len(TEXTS)
    rows = client.get("/v1/feedback?source=queue&limit=1000", headers=bearer(ADMIN)).get_json()["items"]
    assert len(rows) == 2 * len(TEXTS)
    assert Counter(row["text"] for row in rows) == Counter({text: 2 for text in TEXTS})


def test_a_lease_holds_a_passage_until_it_expires(app_config, tmp_path, monkeypatch):
    app, tokens = make_app(app_config, tmp_path, overlap=1, names=("ana", "bo"))
    client = app.test_client()
    now = [1_000_000.0]
    monkeypatch.setattr(queue_module, "clock", lambda: now[0])

    def ids(name, limit=20):
        answer = client.get(f"/v1/queue?limit={limit}", headers=bearer(tokens[name]))
        assert answer.status_code == 200
        return {item["id"] for item in answer.get_json()["items"]}

    first = ids("ana", 3)
    assert len(first) == 3
    second = ids("bo")
    assert len(second) == len(TEXTS) - 3 and not first & second  # different passages while leased
    assert ids("ana") == first  # ana's own leases are still hers (renewed)
    label = client.post(f"/v1/queue/{min(first)}/label", json={"labels": []}, headers=bearer(tokens["ana"]))
    assert label.status_code == 200 and label.get_json()["item"]["state"] == "labelled"
    now[0] += 61  # every lease expired: the passages not labelled return to the pool
    assert ids("bo") == (first | second) - {min(first)}
    assert ids("ana") == set()  # bo holds them all now


def test_overlap_two_offers_a_passage_to_a_second_analyst_but_never_twice_to_one(app_config, tmp_path):
    app, tokens = make_app(app_config, tmp_path, overlap=2, names=("ana", "bo", "cy"))
    client = app.test_client()
    every = {
        name: {
            item["id"] for item in client.get("/v1/queue?limit=20", headers=bearer(tokens[name])).get_json()["items"]
        }
        for name in ("ana", "bo")
    }
    assert every["ana"] == every["bo"] and len(every["ana"]) == len(TEXTS)
    # Both leases are live: a third analyst gets nothing until one expires or is labelled.
    assert client.get("/v1/queue?limit=20", headers=bearer(tokens["cy"])).get_json()["items"] == []
    item_id = min(every["ana"])
    for _ in range(2):  # ana's relabel replaces her label: still one of two
        assert client.post(f"/v1/queue/{item_id}/label", json={"labels": []},
                           headers=bearer(tokens["ana"])).get_json()["item"]["state"] == "pending"  # fmt: skip
    assert labels_per_item(app)[item_id] == 1
    assert item_id not in {
        item["id"] for item in client.get("/v1/queue?limit=20", headers=bearer(tokens["ana"])).get_json()["items"]
    }
    answer = client.post(f"/v1/queue/{item_id}/label", json={"labels": ["sabotage_mention"]},
                         headers=bearer(tokens["bo"]))  # fmt: skip
    assert answer.get_json()["item"]["state"] == "labelled"


@pytest.mark.parametrize("key", ["QUEUE_OVERLAP", "QUEUE_LEASE_SECONDS"])
def test_queue_team_settings_must_be_positive(app_config, key):
    from service import create_app

    with pytest.raises(ValueError, match=f"HTA_{key}: expected a number above 0, got 0"):
        create_app({**app_config, key: 0})
