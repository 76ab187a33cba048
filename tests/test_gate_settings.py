"""The retrain settings: HTA_GATE_MARGIN (formerly HTA_RECALL_MARGIN) and HTA_FEEDBACK_WEIGHT reach the job
as one `RetrainSettings`, each with one default."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import pytest

import service.retrain
from classifier.config import SettingError
from service.config import load_config as settings
from service.jobs import main as job_main
from service.store import Store
from training import RetrainSettings
from training.retrain import same_training_data


def test_the_old_margin_name_is_read_with_a_warning_naming_the_new_one():
    with pytest.warns(FutureWarning) as caught:
        values = settings(environ={"HTA_RECALL_MARGIN": "0.05"})
    assert values["GATE_MARGIN"] == 0.05
    assert [str(w.message) for w in caught] == ["HTA_RECALL_MARGIN is deprecated: set HTA_GATE_MARGIN instead"]


def test_the_new_margin_name_wins():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert settings(environ={"HTA_GATE_MARGIN": "0.03"})["GATE_MARGIN"] == 0.03
    with pytest.warns(FutureWarning) as caught:
        assert settings(environ={"HTA_GATE_MARGIN": "0.03", "HTA_RECALL_MARGIN": "0.5"})["GATE_MARGIN"] == 0.03
    assert [str(w.message) for w in caught] == ["HTA_RECALL_MARGIN is ignored: HTA_GATE_MARGIN is set"]


def test_the_old_retrain_jobs_name_is_read_as_retrain_processes_with_a_warning():
    with pytest.warns(FutureWarning) as caught:
        values = settings(environ={"HTA_RETRAIN_JOBS": "2"})
    assert values["RETRAIN_PROCESSES"] == 2
    assert "RETRAIN_JOBS" not in values
    assert [str(w.message) for w in caught] == ["HTA_RETRAIN_JOBS is deprecated: set HTA_RETRAIN_PROCESSES instead"]


@pytest.mark.parametrize(("value", "expected"), [("2.5", 2.5), ("3", 3.0), ("0.5", 0.5)])
def test_feedback_weight_is_any_positive_number(value, expected):
    assert settings(environ={"HTA_FEEDBACK_WEIGHT": value})["FEEDBACK_WEIGHT"] == expected


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "three"])
def test_a_feedback_weight_that_is_not_a_positive_number_is_refused_by_name(value):
    with pytest.raises(SettingError) as info:
        settings(environ={"HTA_FEEDBACK_WEIGHT": value})
    assert str(info.value) == f"HTA_FEEDBACK_WEIGHT: expected a number > 0, got {value!r}"


def test_the_service_passes_margin_and_weight_to_the_job(tmp_path, monkeypatch):
    started = []

    class FakeProcess:
        pid = 4242

        def __init__(self, command, **kwargs):
            started.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(service.retrain.subprocess, "Popen", FakeProcess)
    store = Store(tmp_path / "service.sqlite3").init()
    config = {"FEEDBACK_DB": store.path, "MODELS_DIR": tmp_path / "models", "GATE_MARGIN": 0.05,
              "FEEDBACK_WEIGHT": 3.0, "RETRAIN_CV": 2, "RETRAIN_PROCESSES": 1, "RETRAIN_DATA": None,
              "RETRAIN_CROSSFIT_FOLDS": 3, "SOURCE_THRESHOLD_LABELS": 10, "GATE_SHADOW_RATE_JUMP": 2.0,
              "SHADOW_FILE": tmp_path / "shadow.json", "SHADOW_SHARE": 0.1, "RETRAIN_SHADOW_TIMEOUT": 60.0}  # fmt: skip
    job_id = store.create_job(None)
    service.retrain.start_job_process(job_id, config, store)
    # The reaper thread records the (fake) job's end: wait for it before the database goes away.
    deadline = time.monotonic() + 10
    while store.get_job(job_id)["state"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (store.get_job(job_id)["state"], store.get_job(job_id)["error"]) == ("failed", "exited with code 0")
    command = started[0]
    sent = json.loads(command[command.index("--settings") + 1])
    assert sent == {"feedback_db": str(store.path), "models_dir": str(tmp_path / "models"), "base_data": None,
                    "gate_margin": 0.05, "feedback_weight": 3.0, "cv": 2, "n_jobs": 1,
                    "threshold_weight": None, "crossfit_folds": 3, "source_threshold_labels": 10,
                    "shadow_passages": 0, "shadow_rate_jump": 2.0, "shadow_file": str(tmp_path / "shadow.json"),
                    "shadow_share": 0.1, "shadow_timeout": 60.0}  # fmt: skip
    assert RetrainSettings.from_json(sent) == service.retrain.retrain_settings(config)


def test_each_retrain_setting_has_one_default_the_documented_one():
    config = settings(environ={})
    retrain = service.retrain.retrain_settings(config)
    assert (retrain.gate_margin, retrain.feedback_weight, retrain.cv, retrain.n_jobs) == (0.02, 3.0, 5, 1)
    assert retrain.base_data is None
    with pytest.raises(TypeError):
        RetrainSettings(feedback_db=Path("db"), models_dir=Path("m"))  # no second default here


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feedback_weight": 0}, "feedback_weight must be above 0, got 0"),
        ({"gate_margin": -0.1}, "gate_margin must be at least 0, got -0.1"),
        ({"gate_margin": float("nan")}, "gate_margin must be a finite number, got nan"),
        ({"cv": 1}, "cv must be a whole number of at least 2, got 1"),
        ({"n_jobs": 0}, "n_jobs must be a whole number of at least 1, got 0"),
    ],
)
def test_retrain_settings_a_retrain_cannot_run_with_are_refused_by_name(change, message):
    values = {"feedback_db": "db", "models_dir": "m", "base_data": None, "gate_margin": 0.02,
              "feedback_weight": 3.0, "cv": 5, "n_jobs": 1, **change}  # fmt: skip
    with pytest.raises(ValueError) as info:
        RetrainSettings(**values)
    assert str(info.value) == message


def test_a_retrain_with_settings_it_cannot_run_with_fails_at_once_naming_them(tmp_path, monkeypatch):
    monkeypatch.setattr(service.retrain.subprocess, "Popen", lambda *a, **k: pytest.fail("must not start"))
    store = Store(tmp_path / "service.sqlite3").init()
    config = settings({"FEEDBACK_DB": store.path, "MODELS_DIR": tmp_path / "models", "RETRAIN_CV": 1})
    job = service.retrain.start_retrain(config, store)
    assert (job["state"], job["error"]) == (
        "failed", "invalid retrain settings: cv must be a whole number of at least 2, got 1"
    )  # fmt: skip


def test_the_job_refuses_settings_that_are_not_retrain_settings(capsys):
    with pytest.raises(SystemExit) as info:
        job_main(["job-1", "--settings", json.dumps({"feedback_db": "x.sqlite3", "weight": 0})])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --settings: retrain settings: unknown ['weight'], missing ['base_data', 'cv'," in err


def test_a_new_weight_is_something_new_only_when_there_are_feedback_rows():
    _same_training_data = same_training_data

    def manifest(rows: int, weight: float) -> dict:
        return {"added_rows": {"rows": rows, "weight": weight, "base_sha256": "b", "sha256": ["f"] if rows else []}}

    assert _same_training_data(manifest(0, 3.0), manifest(0, 1)) is True
    assert _same_training_data(manifest(12, 3.0), manifest(12, 3.0)) is True
    assert _same_training_data(manifest(12, 3.0), manifest(12, 1)) is False
    assert _same_training_data(manifest(12, 3.0), manifest(0, 3.0)) is False
