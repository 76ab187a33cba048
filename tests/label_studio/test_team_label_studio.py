"""Issue 22 through Label Studio: two Label Studio users annotate the same tasks, the service measures their
agreement and lists their disagreements; after an adjudicator resolves them, a retrain learns the final labels."""

from __future__ import annotations

import pytest

from tests.label_studio.conftest import annotation_event

H, S = "hybrid_threat_warning", "sabotage_mention"
ADMIN = "ls-team-admin"
# Four tasks written for this test, and the two users' choices (users 1 and 2 differ on tasks 2 and 4).
TASKS = [
    ("Investigators say the rail signal cables were cut on purpose.", [S], [S]),
    ("The minister warned of fake news spread to split the alliance.", [H], []),
    ("The festival opens on Friday with a concert in the park.", [], []),
    ("A drone circled the LNG terminal before the fire broke out.", [S], [S, H]),
]


def annotate(client, auth, user: int, annotation_id: int, task_id: int, text: str, choices: list[str]):
    body = annotation_event(annotation_id=annotation_id, task_id=task_id, text=text, choices=choices)
    body["annotation"]["completed_by"] = user
    answer = client.post("/label-studio/webhook", json=body, headers=auth)
    assert answer.status_code == 200, answer.get_json()


def test_two_label_studio_users_agreement_disagreements_and_retraining(make_app, auth):
    from training.feedback import read_feedback

    app = make_app(ADMIN_TOKEN=ADMIN)
    client = app.test_client()
    for task_id, (text, first, second) in enumerate(TASKS, start=1):
        annotate(client, auth, 1, 100 + task_id, task_id, text, first)
        annotate(client, auth, 2, 200 + task_id, task_id, text, second)
    admin = {"Authorization": f"Bearer {ADMIN}"}

    report = client.get("/v1/agreement", headers=admin).get_json()
    assert report["passages"] == 4 and report["annotators"] == ["ls-user:1", "ls-user:2"]
    # hybrid_threat_warning: user 1 yes on task 2; user 2 yes on task 4: they agree on 2 of 4 (p_o = 0.5),
    # each says yes once (p_e = 0.25*0.25 + 0.75*0.75 = 0.625): kappa = (0.5-0.625)/(1-0.625) = -1/3.
    # alpha: n = 8 values, 2 yes, 6 no, 2 units disagree: 1 - 7*4/(2*2*6) = 1 - 28/24 = -1/6.
    [pair] = report["labels"][H]["pairs"]
    assert pair["kappa"] == pytest.approx(-1 / 3, abs=1e-12)
    assert report["labels"][H]["alpha"] == pytest.approx(-1 / 6, abs=1e-12)
    # sabotage_mention: both say yes on tasks 1 and 4 and no on 2 and 3: perfect agreement.
    assert report["labels"][S]["pairs"][0]["kappa"] == pytest.approx(1.0)
    assert report["labels"][S]["alpha"] == pytest.approx(1.0)

    listing = client.get("/v1/disagreements", headers=admin).get_json()
    assert [item["text"] for item in listing["items"]] == [TASKS[1][0], TASKS[3][0]]
    assert [(a["annotator"], a["source"]) for a in listing["items"][1]["annotations"]] == [
        ("ls-user:1", "label-studio"),
        ("ls-user:2", "label-studio"),
    ]
    final = {TASKS[1][0]: [H], TASKS[3][0]: [S]}
    for item in listing["items"]:
        answer = client.post(f"/v1/disagreements/{item['id']}/resolve", json={"labels": final[item["text"]]},
                             headers=admin)  # fmt: skip
        assert answer.status_code == 200
    records = read_feedback(app.config["FEEDBACK_DB"])
    assert {r["text"]: r["labels"] for r in records} == {text: final.get(text, first) for text, first, _ in TASKS}
    assert [r["annotators"] for r in records] == [["ls-user:1", "ls-user:2"]] * 4
