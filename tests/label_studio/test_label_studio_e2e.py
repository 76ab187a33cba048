"""End to end with a real Label Studio: our service (``python -m service``) as the ML backend of a project.

Label Studio (installed by ``.ci/install-label-studio`` in its own virtual environment) runs on
127.0.0.1 with a temporary data directory, a pre-created user and API token; the service runs on a
temporary copy of the trained model and a temporary feedback database. Through Label Studio's REST API
the test creates a project with a multi-label <Choices> config, connects the service as its model (HTTP
Basic), imports tasks, has Label Studio fetch predictions, creates, updates and deletes annotations, and
presses "Start Training"; on the service's side it checks the feedback store and that the retrain job
started and read that feedback.

Skipped (with the reason) only when the Label Studio virtual environment is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from service.store import Store
from tests.label_studio.conftest import MULTI_CONFIG
from tests.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parents[2]
LS_VENV = Path(
    os.environ.get("HTA_LABEL_STUDIO_VENV")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hta-label-studio" / "venv"
)
LS_USER, LS_PASSWORD, LS_TOKEN = "e2e@example.com", "e2e-password-123", "e2e0123456789abcdef0123456789abcdef0123"
BASIC_USER, BASIC_PASS = "label-studio", "basic-secret-for-e2e"
SENTENCES = [
    "Saboteurs cut the undersea data cable linking the island to the mainland overnight.",
    "Officials warned that a foreign disinformation campaign is trying to interfere in the election.",
    "We stand with Ukraine and will keep sending humanitarian aid to its people.",
    "The city council approved the new budget for public libraries on Tuesday.",
    # Cyrillic tasks (written for this test): Ukrainian, which the model reads, and Russian, which it does not
    "Ми щиро вдячні нашим партнерам за підтримку та допомогу Україні.",
    "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки.",
]


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 60):
    """(status, parsed JSON or None) of one request; HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode("utf-8", "replace")


def basic_header(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def wait_until(check, what: str, limit: float, process: subprocess.Popen | None = None, log: Path | None = None):
    """Poll `check` until it returns a truthy value; fail naming `what` (and the log tail) after `limit` s."""
    deadline = time.monotonic() + limit
    tail = (lambda: log.read_text(errors="replace")[-4000:]) if log else (lambda: "")
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            value = check()
            if value:
                return value
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"{what}: process exited {process.returncode}\n{log.read_text()[-4000:] if log else ''}"
            )
        time.sleep(0.5)
    raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}\n{tail()}")


class Process:
    """A child process in its own session, logging to a file, stopped (whole group) on `stop`."""

    def __init__(self, command: list[str], env: dict, log: Path, cwd: Path = ROOT):
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()


@pytest.fixture
def label_studio(tmp_path):
    """A running Label Studio: (base URL, API headers)."""
    executable = LS_VENV / "bin" / "label-studio"
    if not executable.exists():
        pytest.skip(f"Label Studio is not installed in {LS_VENV}: run .ci/install-label-studio")
    data = tmp_path / "label-studio-data"
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {
        "PATH": f"{LS_VENV / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),  # nothing of Label Studio lands in the real home directory
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        # our ML backend and its webhook are on 127.0.0.1, which Label Studio refuses by default
        "SSRF_PROTECTION_ENABLED": "false",
        "ML_BLOCK_LOCAL_IP": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }
    command = [
        str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data), "--username", LS_USER, "--password", LS_PASSWORD, "--user-token", LS_TOKEN,
        "--enable-legacy-api-token", "--log-level", "WARNING",
    ]  # fmt: skip
    process = Process(command, env, tmp_path / "label-studio.log", cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{base}/health", timeout=5)[0] == 200, "Label Studio to start", 240,
                   process.process, process.log_path)  # fmt: skip
        yield base, {"Authorization": f"Token {LS_TOKEN}"}
    finally:
        process.stop()


@pytest.fixture
def service(tmp_path):
    """Our service, `python -m service`, with HTTP Basic on the Label Studio routes, on a temporary copy of
    the project's committed model (no training needed): (base URL, db path)."""
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    port = free_port()
    db = tmp_path / "feedback.sqlite3"
    env = {
        **os.environ,
        "HTA_MODELS_DIR": str(models),
        "HTA_FEEDBACK_DB": str(db),
        "HTA_PORT": str(port),
        "HTA_WORKERS": "2",
        "HTA_RETRAIN_CV": "2",
        "HTA_LS_BASIC_AUTH_USER": BASIC_USER,
        "HTA_LS_BASIC_AUTH_PASS": BASIC_PASS,
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "HTA_LS_AUTH", "HTA_ADMIN_TOKEN", "HTA_PREDICT_TOKEN"):
        env.pop(name, None)
    process = Process([sys.executable, "-m", "service"], env, tmp_path / "service.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{base}/readyz", timeout=5)[0] == 200, "the service to start", 120,
                   process.process, process.log_path)  # fmt: skip
        yield base, db
    finally:
        process.stop()


def choices_result(choices: list[str]) -> list[dict]:
    return [{"from_name": "labels", "to_name": "text", "type": "choices", "value": {"choices": choices}}]


def test_label_studio_uses_the_service_as_its_ml_backend(label_studio, service):
    ls, token = label_studio
    base, db = service
    store = Store(db)
    backend_url = f"{base}/label-studio"

    # a project with a multi-label <Choices> config
    status, project = http("POST", f"{ls}/api/projects", {"title": "Alerts", "label_config": MULTI_CONFIG}, token)
    assert status == 201, project
    project_id = project["id"]

    # connecting with a wrong password: Label Studio reports the authentication problem
    connect = {"url": backend_url, "project": project_id, "title": "hta", "auth_method": "BASIC_AUTH",
               "basic_auth_user": BASIC_USER}  # fmt: skip
    status, refused = http("POST", f"{ls}/api/ml", {**connect, "basic_auth_pass": "wrong"}, token)
    assert status == 400, refused
    assert "authentication parameters were either not provided or are incorrect" in json.dumps(refused)

    # a project whose config does not fit: Label Studio shows our reason
    config = '<View><Text name="text" value="$text"/><TextArea name="note" toName="text"/></View>'
    status, other = http("POST", f"{ls}/api/projects", {"title": "Notes", "label_config": config}, token)
    assert status == 201, other
    status, refused = http("POST", f"{ls}/api/ml", {**connect, "project": other["id"], "basic_auth_pass": BASIC_PASS},
                           token)  # fmt: skip
    assert status == 400, refused
    assert "the labelling config has no <Choices> control over a <Text> object" in json.dumps(refused)

    # connect the service as the project's ML backend
    status, backend = http("POST", f"{ls}/api/ml", {**connect, "basic_auth_pass": BASIC_PASS}, token)
    assert status == 201, backend
    status, model = http("GET", f"{base}/v1/model")
    assert backend["model_version"] == model["version"]
    assert backend["readable_state"] == "Connected"

    # Label Studio made a webhook to <url>/webhook; it sends no credentials until it is given a header
    status, hooks = http("GET", f"{ls}/api/webhooks/?project={project_id}", headers=token)
    assert status == 200, hooks
    [hook] = [h for h in hooks if h["url"] == f"{backend_url}/webhook"]
    status, hook = http("PATCH", f"{ls}/api/webhooks/{hook['id']}/",
                        {"headers": basic_header(BASIC_USER, BASIC_PASS)}, token)  # fmt: skip
    assert status == 200, hook

    # import tasks and let Label Studio fetch our predictions
    status, imported = http("POST", f"{ls}/api/projects/{project_id}/import", [{"text": t} for t in SENTENCES], token)
    assert status == 201, imported
    assert imported["task_count"] == len(SENTENCES)
    status, listed = http("GET", f"{ls}/api/tasks?project={project_id}&page_size=100", headers=token)
    assert status == 200, listed
    tasks = sorted(listed["tasks"] if isinstance(listed, dict) else listed, key=lambda t: t["id"])
    assert [t["data"]["text"] for t in tasks] == SENTENCES
    status, done = http(
        "POST", f"{ls}/api/dm/actions?id=retrieve_tasks_predictions&project={project_id}",
        {"selectedItems": {"all": True, "excluded": []}}, token,
    )  # fmt: skip
    assert status == 200, done

    # what Label Studio shows is what the service predicts for the same texts
    status, ours = http(
        "POST", f"{backend_url}/predict",
        {"tasks": [{"id": t["id"], "data": t["data"]} for t in tasks], "label_config": MULTI_CONFIG},
        basic_header(BASIC_USER, BASIC_PASS),
    )  # fmt: skip
    assert status == 200, ours
    for task, expected in zip(tasks, ours["results"], strict=True):
        status, predictions = http("GET", f"{ls}/api/predictions/?task={task['id']}", headers=token)
        assert status == 200, predictions
        [prediction] = predictions
        assert prediction["model_version"] == model["version"]
        assert prediction["score"] == pytest.approx(expected["score"])
        assert prediction["result"] == expected["result"]
    assert ours["results"][0]["result"][0]["value"]["choices"] == ["sabotage_mention"]
    assert ours["results"][3]["result"] == []
    # the Ukrainian task is read and pre-selected; the Russian one gets nothing pre-selected and the least
    # certain score, so Label Studio sorts it first for a person to read (never made-up zeros)
    assert ours["results"][4]["result"][0]["value"]["choices"] == ["support_statement"]
    assert (ours["results"][5]["result"], ours["results"][5]["score"]) == ([], 0.0)

    # annotations made in Label Studio arrive in the feedback store, keyed by annotation id
    labels = [["sabotage_mention"], ["hybrid_threat_warning"], ["support_statement"], [], ["support_statement"],
              ["hybrid_threat_warning", "sabotage_mention"]]  # fmt: skip
    annotation_ids = []
    for task, chosen in zip(tasks, labels, strict=True):
        status, annotation = http("POST", f"{ls}/api/tasks/{task['id']}/annotations/",
                                  {"result": choices_result(chosen)}, token)  # fmt: skip
        assert status == 201, annotation
        annotation_ids.append(annotation["id"])

    def stored():
        rows = store.list_feedback(source="label-studio")
        return rows if len(rows) == len(SENTENCES) else None

    rows = wait_until(stored, "the annotations to reach the feedback store", 60)
    assert [(r["text"], r["labels"], r["source_project"], r["source_ref"], r["document_id"]) for r in rows] == [
        (t["data"]["text"], chosen, str(project_id), str(a), f"ls-{project_id}-{t['id']}")
        for t, chosen, a in zip(tasks, labels, annotation_ids, strict=True)
    ]

    # an update replaces the row (same id); a delete removes it
    status, _ = http("PATCH", f"{ls}/api/annotations/{annotation_ids[1]}/",
                     {"result": choices_result(["hybrid_threat_warning", "sabotage_mention"])}, token)  # fmt: skip
    assert status == 200
    wait_until(
        lambda: store.get_feedback(rows[1]["id"])["labels"] == ["hybrid_threat_warning", "sabotage_mention"],
        "the update to reach the feedback store", 60,
    )  # fmt: skip
    assert store.feedback_count() == len(SENTENCES)
    status, _ = http("DELETE", f"{ls}/api/annotations/{annotation_ids[3]}/", headers=token)
    assert status == 204
    wait_until(lambda: store.get_feedback(rows[3]["id"]) is None, "the delete to reach the feedback store", 60)
    assert store.feedback_count() == len(SENTENCES) - 1

    # "Start Training": a retrain job starts through the gated path, trained with the feedback
    status, _ = http("POST", f"{ls}/api/ml/{backend['id']}/train", {}, token)
    assert status == 200
    # (Label Studio marks the model "Training", but any read of it re-runs /health and /setup, which
    # puts it back to "Connected": the job is checked on the service's side.)
    assert store.job_counts() in ({"queued": 1}, {"running": 1}, {"succeeded": 1}, {"rejected": 1})
    with store.connect() as conn:
        [job_id] = [row["id"] for row in conn.execute("SELECT id FROM jobs")]

    def feedback_read():
        status, job = http("GET", f"{base}/v1/jobs/{job_id}")
        return job if status == 200 and job["progress"] else None  # its first progress line is reading the feedback

    # The job reads the feedback first, then trains (a minute or more here): seeing it read is enough;
    # the rest of a job's life is covered by tests/service. Stopping the service ends the job.
    job = wait_until(feedback_read, "the retrain job to read the feedback", 120)
    assert job["state"] == "running", job
    assert job["feedback_rows"] == len(SENTENCES) - 1
    n = len(SENTENCES) - 1  # one Label Studio user, one annotation per task: every passage agreed
    assert job["progress"][0]["message"] == (
        f"read {n} feedback rows: {n} passages to learn from, 0 held back (annotators disagree, not adjudicated)"
    )
