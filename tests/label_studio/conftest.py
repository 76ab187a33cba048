"""Fixtures of the Label Studio tests: the app on a private copy of the session's trained model, with
HTTP Basic credentials for the /label-studio routes, and Label Studio's labelling configs and payloads."""

from __future__ import annotations

import base64

import pytest

USER = "label-studio"
PASSWORD = "s3cret: with colon and ü"
LABELS = ("hybrid_threat_warning", "sabotage_mention", "support_statement")

MULTI_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="labels" toName="text" choice="multiple" showInline="true">
    <Choice value="hybrid_threat_warning"/>
    <Choice value="sabotage_mention"/>
    <Choice value="support_statement"/>
  </Choices>
</View>"""

SINGLE_CONFIG = """<View>
  <Text name="body" value="$passage"/>
  <Choices name="label" toName="body">
    <Choice value="Hybrid threat" alias="hybrid_threat_warning"/>
    <Choice value="Sabotage" alias="sabotage_mention"/>
    <Choice value="Support" alias="support_statement"/>
  </Choices>
</View>"""

SABOTAGE_ONLY_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sabotage" toName="text" choice="multiple">
    <Choice value="sabotage_mention"/>
  </Choices>
</View>"""


def basic(user: str, password: str) -> dict:
    """An ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


# Settings of the Label Studio tests' apps: Basic credentials for /label-studio, no admin token.
LS_SETTINGS = {"ADMIN_TOKEN": None, "LS_AUTH": "basic", "LS_BASIC_AUTH_USER": USER, "LS_BASIC_AUTH_PASS": PASSWORD}


@pytest.fixture
def ls_config(app_config) -> dict:
    return {**app_config, **LS_SETTINGS}


@pytest.fixture
def make_app(ls_config):
    """Build an app with `ls_config` updated by the given settings."""
    from service import create_app

    def build(**settings):
        return create_app({**ls_config, **settings})

    return build


@pytest.fixture
def shared_ls_app(shared_app):
    """`shared_ls_app(**settings)`: the test module's shared app (tests/conftest.py) with `LS_SETTINGS`, for
    requests that must change nothing."""
    return lambda **settings: shared_app(**{**LS_SETTINGS, **settings})


@pytest.fixture
def shared_client(shared_ls_app):
    """A client of the module's shared app with `LS_SETTINGS` (requests that must change nothing)."""
    return shared_ls_app().test_client()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth() -> dict:
    return basic(USER, PASSWORD)


@pytest.fixture
def store(app):
    return app.extensions["hta_store"]


@pytest.fixture
def predictor(app):
    return app.extensions["hta_models"].current()


@pytest.fixture
def started_jobs(monkeypatch) -> list[str]:
    """Retrain jobs go through the real `start_retrain` (job record, one-at-a-time rule) but no training
    process is started: the ids of the jobs that would have been started are recorded instead."""
    started: list[str] = []

    def fake_start(job_id, config, store, shadow=0):
        started.append(job_id)

    monkeypatch.setattr("service.retrain.start_job_process", fake_start)
    return started


def annotation_event(
    action: str = "ANNOTATION_CREATED",
    *,
    annotation_id: int = 11,
    task_id: int = 7,
    project_id: int = 3,
    choices: list[str] | None = None,
    text: str = "Saboteurs cut the undersea cable near the island.",
    config: str = MULTI_CONFIG,
    from_name: str = "labels",
    was_cancelled: bool = False,
) -> dict:
    """A webhook body as Label Studio 1.23 sends it for one annotation (fields we do not read trimmed)."""
    result = []
    if choices is not None:
        result = [
            {
                "id": "r1",
                "from_name": from_name,
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
                "value": {"choices": choices},
            }
        ]
    return {
        "action": action,
        "annotation": {
            "id": annotation_id,
            "result": result,
            "task": task_id,
            "project": project_id,
            "was_cancelled": was_cancelled,
            "ground_truth": False,
            "completed_by": 1,
            "lead_time": 3.5,
        },
        "task": {"id": task_id, "data": {"text": text}, "project": project_id, "is_labeled": True},
        "project": {"id": project_id, "title": "Alerts", "label_config": config, "task_number": 5},
    }
