"""User state stays out of the tracked tree (issue 10): in a fresh `git clone`, running the service, sending
feedback, retraining over HTTP and `python -m training train` leave `git status` clean; everything they
write goes to the user data directory (here the default, ``~/.local/share/hybrid-threat-alerts`` under a
temporary HOME)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from classifier.config import default_home, settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "clone-admin-token"


def test_default_paths_follow_xdg_and_hta_home(tmp_path):
    home = Path.home()
    assert default_home({}) == home / ".local" / "share" / "hybrid-threat-alerts"
    assert default_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "hybrid-threat-alerts"
    assert default_home({"XDG_DATA_HOME": "relative/ignored"}) == home / ".local" / "share" / "hybrid-threat-alerts"
    from service.config import load_config

    values = load_config(environ={"HTA_HOME": str(tmp_path / "h")})
    assert values["MODELS_DIR"] == tmp_path / "h" / "models"
    assert values["FEEDBACK_DB"] == tmp_path / "h" / "service.sqlite3"
    assert values["BUNDLED_MODELS_DIR"] == ROOT / "models"
    values = load_config(environ={"HTA_HOME": str(tmp_path / "h"), "HTA_MODELS_DIR": "/srv/m", "HTA_RETRAIN_CV": "3"})
    assert (values["MODELS_DIR"], values["FEEDBACK_DB"], values["RETRAIN_CV"]) == (
        Path("/srv/m"),
        tmp_path / "h" / "service.sqlite3",
        3,
    )
    assert settings(environ={"HTA_BUNDLED_MODELS_DIR": ""})["BUNDLED_MODELS_DIR"] is None


def test_a_bad_setting_names_the_variable():
    from classifier.config import SettingError
    from service.config import load_config

    with pytest.raises(SettingError) as info:
        load_config(environ={"HTA_RETRAIN_CV": "five"})
    assert str(info.value) == "HTA_RETRAIN_CV: expected int, got 'five'"


def test_the_service_reads_the_library_settings():
    from classifier.config import SETTINGS as LIBRARY
    from service.config import SETTINGS, load_config

    assert set(LIBRARY) <= set(SETTINGS)
    config = load_config(environ={"HTA_HOME": "/x"})
    assert (config["MODELS_DIR"], config["FEEDBACK_DB"]) == (Path("/x/models"), Path("/x/service.sqlite3"))


def _call(base: str, method: str, path: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.slow
def test_fresh_clone_stays_clean(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTA_") and k != "XDG_DATA_HOME"}
    env.update(HOME=str(home), HTA_ADMIN_TOKEN=ADMIN, HTA_RETRAIN_CV="2", HTA_ACCESS_LOG="false")
    env["HTA_LABELS_OPEN"] = "true"  # the single-user set-up: feedback without a named token
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable
    where = subprocess.run(
        [python, "-c", "import classifier, service; print(classifier.__file__, service.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.split() == [str(clone / "classifier" / "__init__.py"), str(clone / "service" / "__init__.py")]

    train = subprocess.run(
        [python, "-m", "training", "train", "--cv", "2", "--processes", "1"], cwd=clone, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    data_home = home / ".local" / "share" / "hybrid-threat-alerts"
    trained = (data_home / "models" / "CURRENT").read_text().strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [python, "-m", "service", "--port", str(port), "--workers", "1"], cwd=clone, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while True:
            with contextlib.suppress(OSError):
                if _call(base, "GET", "/readyz")[0] == 200:
                    break
            assert time.time() < deadline and server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.3)
        status, body = _call(base, "POST", "/v1/predict", {"text": "We stand with Ukraine."})
        assert (status, body["model_version"]) == (200, trained)
        status, body = _call(base, "POST", "/v1/retrain", token=ADMIN)
        assert status == 202, body
        job_id = body["job"]["id"]
        deadline = time.time() + 600
        while True:
            job = _call(base, "GET", f"/v1/jobs/{job_id}")[1]
            if job["state"] not in ("queued", "running"):
                break
            assert time.time() < deadline, job
            time.sleep(1)
        assert job["state"] == "rejected", job  # nothing new: the candidate reproduces the current model
        assert (data_home / "models" / job["candidate_version"] / "manifest.json").is_file()
        status, body = _call(base, "POST", "/v1/feedback", {"text": "Saboteurs cut the cable.", "labels": []})
        assert status == 201
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line for line in ignored if not line.endswith("__pycache__/")] == []
    written = sorted(p.name for p in data_home.iterdir())
    assert [name for name in written if not name.startswith("service.sqlite3-")] == ["models", "service.sqlite3"]
