"""Flask test-client tests of /label-studio/webhook: every event, idempotency, and bad payloads."""

from __future__ import annotations

import pytest

from tests.label_studio.conftest import SABOTAGE_ONLY_CONFIG, annotation_event

TEXT = "Saboteurs cut the undersea cable near the island."


def send(client, auth, body):
    return client.post("/label-studio/webhook", json=body, headers=auth)


def rows(store) -> list[dict]:
    return store.list_feedback(source="label-studio")


def test_annotation_created_is_stored_as_feedback(client, auth, store):
    response = send(client, auth, annotation_event(choices=["sabotage_mention", "hybrid_threat_warning"]))
    assert response.status_code == 200
    [row] = rows(store)
    assert response.get_json() == {
        "status": "stored",
        "action": "ANNOTATION_CREATED",
        "feedback_ids": [row["id"]],
        "annotations": [11],
        "cancelled": [],
        "removed_feedback_ids": [],
    }
    assert {k: row[k] for k in ("text", "labels", "document_id", "source", "source_project", "source_ref")} == {
        "text": TEXT,
        "labels": ["hybrid_threat_warning", "sabotage_mention"],
        "document_id": "ls-3-7",
        "source": "label-studio",
        "source_project": "3",
        "source_ref": "11",
    }
    assert row["updated"] is None


def test_the_same_event_twice_keeps_one_row(client, auth, store):
    first = send(client, auth, annotation_event(choices=["sabotage_mention"])).get_json()["feedback_ids"]
    second = send(client, auth, annotation_event(choices=["sabotage_mention"])).get_json()["feedback_ids"]
    assert first == second
    assert store.feedback_count() == 1


def test_annotation_updated_replaces_the_row(client, auth, store):
    [created] = send(client, auth, annotation_event(choices=["sabotage_mention"])).get_json()["feedback_ids"]
    response = send(client, auth, annotation_event("ANNOTATION_UPDATED", choices=["support_statement"]))
    assert response.status_code == 200
    assert response.get_json()["feedback_ids"] == [created]
    [row] = rows(store)
    assert row["id"] == created
    assert row["labels"] == ["support_statement"]
    assert row["updated"] is not None


def test_update_of_an_unknown_annotation_creates_it(client, auth, store):
    response = send(client, auth, annotation_event("ANNOTATION_UPDATED", annotation_id=99, choices=[]))
    assert response.status_code == 200
    [row] = rows(store)
    assert (row["source_ref"], row["labels"]) == ("99", [])


def test_annotation_ids_are_per_project(client, auth, store):
    send(client, auth, annotation_event(project_id=3, choices=["sabotage_mention"]))
    send(client, auth, annotation_event(project_id=4, choices=["support_statement"]))
    assert [(r["source_project"], r["labels"]) for r in rows(store)] == [
        ("3", ["sabotage_mention"]),
        ("4", ["support_statement"]),
    ]


def test_no_choice_means_no_label_applies(client, auth, store):
    assert send(client, auth, annotation_event(choices=None)).status_code == 200
    assert rows(store)[0]["labels"] == []


def test_results_of_other_controls_are_ignored(client, auth, store):
    body = annotation_event(choices=["sabotage_mention"])
    body["annotation"]["result"].append(
        {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": ["a comment"]}}
    )
    body["annotation"]["result"].append(
        {"from_name": "other", "to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}
    )
    assert send(client, auth, body).status_code == 200
    assert rows(store)[0]["labels"] == ["sabotage_mention"]


def test_cancelled_annotation_is_not_feedback_and_removes_its_row(client, auth, store):
    [created] = send(client, auth, annotation_event(choices=["sabotage_mention"])).get_json()["feedback_ids"]
    response = send(client, auth, annotation_event("ANNOTATION_UPDATED", choices=[], was_cancelled=True))
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "stored",
        "action": "ANNOTATION_UPDATED",
        "feedback_ids": [],
        "annotations": [],
        "cancelled": [11],
        "removed_feedback_ids": [created],
    }
    assert store.feedback_count() == 0


@pytest.mark.parametrize("action", ["ANNOTATIONS_DELETED", "ANNOTATION_DELETED"])
def test_deleted_annotation_removes_its_row(client, auth, store, action):
    [created] = send(client, auth, annotation_event(choices=["sabotage_mention"])).get_json()["feedback_ids"]
    send(client, auth, annotation_event(annotation_id=12, choices=["support_statement"]))
    project = {"id": 3, "label_config": "ignored"}
    body = {"action": action, "project": project}
    body.update({"annotations": [{"id": 11}]} if action == "ANNOTATIONS_DELETED" else {"annotation": {"id": 11}})
    response = send(client, auth, body)
    assert response.status_code == 200
    assert response.get_json() == {"status": "deleted", "action": action, "feedback_ids": [created], "not_found": []}
    assert [r["source_ref"] for r in rows(store)] == ["12"]
    again = send(client, auth, body)
    assert again.status_code == 200
    assert again.get_json() == {"status": "deleted", "action": action, "feedback_ids": [], "not_found": [11]}


def test_delete_is_scoped_to_the_project(client, auth, store):
    send(client, auth, annotation_event(project_id=3, choices=["sabotage_mention"]))
    body = {"action": "ANNOTATIONS_DELETED", "project": {"id": 4}, "annotations": [{"id": 11}]}
    assert send(client, auth, body).get_json()["not_found"] == [11]
    assert store.feedback_count() == 1


def test_bulk_annotations_created(client, auth, store):
    one = annotation_event(annotation_id=21, task_id=1, choices=["sabotage_mention"])
    two = annotation_event(annotation_id=22, task_id=2, choices=["support_statement"], text="We stand with Ukraine.")
    body = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [one["annotation"], two["annotation"]],
        "task": [two["task"], one["task"]],
        "project": one["project"],
    }
    response = send(client, auth, body)
    assert response.status_code == 200
    assert response.get_json()["annotations"] == [21, 22]
    assert [(r["source_ref"], r["text"], r["labels"]) for r in rows(store)] == [
        ("21", TEXT, ["sabotage_mention"]),
        ("22", "We stand with Ukraine.", ["support_statement"]),
    ]


def test_project_offering_some_labels_is_not_learned_from(client, auth, store):
    body = annotation_event(choices=["sabotage_mention"], config=SABOTAGE_ONLY_CONFIG, from_name="sabotage")
    response = send(client, auth, body)
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "skipped",
        "action": "ANNOTATION_CREATED",
        "reason": "project 3 offers only some of the model's labels (missing: hybrid_threat_warning, "
        "support_statement); its annotations say nothing about those labels, so they are not stored as feedback",
    }
    assert store.feedback_count() == 0


@pytest.mark.parametrize("action", ["PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED", "SOMETHING_NEW"])
def test_other_events_are_ignored(shared_ls_app, auth, action):
    store = shared_ls_app().extensions["hta_store"]
    response = send(shared_ls_app().test_client(), auth, {"action": action, "project": {"id": 3}, "tasks": [{"id": 1}]})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ignored", "action": action}
    assert store.feedback_count() == 0


def _without(body: dict, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"project": {"id": 3}}, "invalid_request", "action: Field required"),
        ({"action": 5}, "invalid_request", "action: Input should be a valid string"),
        (_without(annotation_event(), "project"), "invalid_request", "project: Field required"),
        (_without(annotation_event(), "annotation", "id"), "invalid_request", "annotation.id: Field required"),
        (_without(annotation_event(), "task", "data"), "invalid_request", "task.data: Field required"),
        (_without(annotation_event(), "project", "label_config"), "invalid_label_config",
         "project.label_config is missing"),
        (annotation_event(config="<View/>"), "invalid_label_config",
         'the labelling config has no <Text> object showing task data (e.g. <Text name="text" value="$text"/>)'),
        (annotation_event(choices=["Positive"]), "invalid_request",
         "annotation 11: choice(s) 'Positive' are not choices of <Choices name=\"labels\"> "
         "(hybrid_threat_warning, sabotage_mention, support_statement)"),
        (annotation_event(text=""), "empty_text", "task 7: data.text is empty"),
        (annotation_event(task_id=8) | {"task": {"id": 9, "data": {"text": TEXT}}}, "invalid_request",
         "annotation 11 belongs to task 8, not task 9"),
        ({"action": "ANNOTATIONS_DELETED", "project": {"id": 3}, "annotations": [{"id": "x"}]}, "invalid_request",
         "annotations[0].id: Input should be a valid integer"),
        ({"action": "ANNOTATIONS_CREATED", "project": {"id": 3, "label_config": "x"},
          "annotation": [{"id": 1, "task": 5}], "task": []}, "invalid_request",
         "annotation 1: its task 5 is not in 'task'"),
        ({"action": "START_TRAINING", "project": {"id": "three"}}, "invalid_request",
         "project.id: Input should be a valid integer"),
    ],
)  # fmt: skip
def test_bad_payloads_are_400_and_store_nothing(shared_ls_app, auth, body, code, message):
    store = shared_ls_app().extensions["hta_store"]  # shared by every case: none may store anything
    response = send(shared_ls_app().test_client(), auth, body)
    assert response.status_code == 400, response.data
    assert response.get_json() == {"status": 400, "detail": message, "error": {"code": code, "message": message}}
    assert store.feedback_count() == 0


def test_webhook_not_json(client, auth):
    response = client.post("/label-studio/webhook", data=b"action=START_TRAINING", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


# START_TRAINING


def test_start_training_starts_a_retrain_job_at_once(client, auth, store, started_jobs):
    response = send(client, auth, {"action": "START_TRAINING", "project": {"id": 3, "title": "Alerts"}})
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"status": "started", "job": started_jobs[0], "location": f"/v1/jobs/{started_jobs[0]}"}
    assert response.headers["Location"] == f"/v1/jobs/{started_jobs[0]}"
    job = store.get_job(body["job"])
    assert job["state"] == "queued"
    assert job["base_version"] is not None


def test_start_training_while_a_job_runs_reports_that_job(client, auth, store, started_jobs):
    first = send(client, auth, {"action": "START_TRAINING", "project": {"id": 3}}).get_json()["job"]
    response = send(client, auth, {"action": "START_TRAINING", "project": {"id": 3}})
    assert response.status_code == 200
    assert response.get_json() == {"status": "already_running", "job": first, "location": f"/v1/jobs/{first}"}
    assert started_jobs == [first]
    assert store.job_counts() == {"queued": 1}


def test_start_training_shares_the_one_at_a_time_rule_with_v1_retrain(make_app, auth, started_jobs):
    app = make_app(ADMIN_TOKEN="admin-token")
    client = app.test_client()
    response = client.post("/v1/retrain", headers={"Authorization": "Bearer admin-token"})
    assert response.status_code == 202
    running = response.get_json()["job"]["id"]
    body = send(client, auth, {"action": "START_TRAINING"}).get_json()
    assert body == {"status": "already_running", "job": running, "location": f"/v1/jobs/{running}"}


def test_start_training_that_cannot_start_a_process_is_503(client, auth, store, monkeypatch):
    def cannot_start(job_id, config, store, shadow=0):
        raise OSError("no more processes")

    monkeypatch.setattr("service.retrain.start_job_process", cannot_start)
    response = send(client, auth, {"action": "START_TRAINING", "project": {"id": 3}})
    message = "could not start a retrain job: no more processes"
    assert response.status_code == 503
    assert response.get_json() == {
        "status": 503,
        "detail": message,
        "error": {"code": "retrain_unavailable", "message": message},
    }
    assert store.job_counts() == {"failed": 1}


def test_every_handled_event_has_its_body_model_for_the_openapi_document():
    from service.label_studio.routes import EVENTS
    from service.label_studio.schemas import WEBHOOK_BODIES

    assert set(EVENTS) == set(WEBHOOK_BODIES)


def test_each_annotation_records_its_label_studio_user(client, auth, store):
    first = annotation_event(choices=["sabotage_mention"])
    second = annotation_event(annotation_id=12, choices=["support_statement"])
    second["annotation"]["completed_by"] = 2
    as_object = annotation_event(annotation_id=13, task_id=8, choices=[])
    as_object["annotation"]["completed_by"] = {"id": 3, "email": "cy@example.org"}
    for body in (first, second, as_object):
        assert send(client, auth, body).status_code == 200
    assert [(row["source_ref"], row["annotator"], row["labels"]) for row in rows(store)] == [
        ("11", "ls-user:1", ["sabotage_mention"]),
        ("12", "ls-user:2", ["support_statement"]),
        ("13", "ls:cy@example.org", []),
    ]
