"""The retrain job end to end: nothing lost on failure, kill reporting, determinism, and the feedback loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from classifier.config import CORPUS_PATH, DEFAULT_LABELS, PROJECT_ROOT
from service.config import SETTINGS
from service.jobs import run_job
from service.retrain import exit_description, reap
from service.store import Store
from training import RetrainSettings

# Sentences written for this test (not corpus rows): "hybrid" in its car sense, which the model
# trained on the sample below takes for a hybrid-threat warning.
CAR_CORRECTIONS = [
    "Hybrid cars now make up a third of new sales in the country.",
    "Sales of hybrid cars rose again in March, the dealers' association said.",
    "The hybrid car market is growing fastest in Norway and the Netherlands.",
    "Dealers reported record demand for hybrid cars over the holiday weekend.",
    "A new hybrid hatchback from the carmaker went on sale this week.",
    "Hybrid vehicles were the best-selling cars in the region last year.",
    "The city bought forty hybrid buses to replace its diesel fleet.",
    "Taxi drivers are switching to hybrid cars to save on fuel.",
    "The government extended the tax credit for buyers of hybrid cars.",
    "Our family traded the old van for a hybrid estate car.",
    "Hybrid engines combine a petrol motor with an electric battery.",
    "The rental company added two hundred hybrid cars to its fleet.",
]
NEW_CAR_SENTENCES = [
    "Registrations of hybrid cars doubled in the first quarter.",
    "She test-drove a hybrid car before deciding to buy an electric one.",
    "The automaker will stop making its hybrid sedan next year.",
]


DEFAULT_FEEDBACK_WEIGHT = SETTINGS["FEEDBACK_WEIGHT"][0]
DEFAULT_GATE_MARGIN = SETTINGS["GATE_MARGIN"][0]


def corpus_sample(path: Path, per_label: int = 60, unlabelled: int = 300, hybrid: int = 15) -> Path:
    """A fixed sample of the bundled corpus: `hybrid` warnings that say "hybrid" and none of the word's other
    senses (so the car sense alarms), then `per_label` rows of each label and `unlabelled` rows of none."""
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["labels"] or "hybrid" not in r["text"].lower()]
    rng = np.random.default_rng(11)
    picked = {r["id"]: r for r in [r for r in rows if "hybrid" in r["text"].lower()][:hybrid]}
    for label in DEFAULT_LABELS:
        with_label = [r for r in rows if label in r["labels"]]
        picked.update((with_label[i]["id"], with_label[i]) for i in rng.choice(len(with_label), per_label, False))
    none = [r for r in rows if not r["labels"]]
    picked.update((none[i]["id"], none[i]) for i in rng.choice(len(none), unlabelled, False))
    path.write_text("".join(json.dumps(r) + "\n" for r in picked.values()), encoding="utf-8")
    return path


def job_settings(
    db: Path, models: Path, data: Path | None = None, cv: int = 2, shadow: int = 0, more: dict | None = None
) -> RetrainSettings:
    """A retrain's settings with the service's defaults for the rest."""
    from service.config import load_config
    from service.retrain import retrain_settings

    return retrain_settings(load_config({"FEEDBACK_DB": db, "MODELS_DIR": models, "RETRAIN_DATA": data,
                                         "RETRAIN_CV": cv, **(more or {})}), shadow)  # fmt: skip


def job_store(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "service.sqlite3").init()
    return store, store.create_job(None)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (-9, "killed by signal 9 (SIGKILL): out of memory?"),
        (-15, "killed by signal 15 (SIGTERM)"),
        (-6, "killed by signal 6 (SIGABRT)"),
        (1, "exited with code 1"),
    ],
)
def test_exit_description(code, words):
    assert exit_description(code) == words


def test_reaper_reports_a_killed_job(tmp_path):
    store, job_id = job_store(tmp_path)
    store.update_job(job_id, state="running")
    process = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    reap(process, job_id, store)
    job = store.get_job(job_id)
    assert (job["state"], job["error"]) == ("failed", "killed by signal 9 (SIGKILL): out of memory?")


def test_reaper_leaves_a_recorded_end_alone(tmp_path):
    store, job_id = job_store(tmp_path)
    store.update_job(job_id, state="rejected")
    reap(subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"]), job_id, store)
    assert (store.get_job(job_id)["state"], store.get_job(job_id)["error"]) == ("rejected", None)


@pytest.mark.slow
def test_a_failed_retrain_loses_nothing(tmp_path, monkeypatch):
    import training.train

    models = tmp_path / "models"
    models.mkdir()
    (models / "CURRENT").write_text("20260101T000000Z-00000000\n")
    store, job_id = job_store(tmp_path)
    store.add_feedback([{"text": text, "labels": []} for text in CAR_CORRECTIONS[:3]])

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training.train, "train_model", full_disk)
    job = run_job(job_id, job_settings(store.path, models, corpus_sample(tmp_path / "sample.jsonl")))
    assert (job["state"], job["error"]) == ("failed", "OSError: [Errno 28] No space left on device")
    assert job["feedback_rows"] == 3 and store.feedback_count() == 3
    assert (models / "CURRENT").read_text() == "20260101T000000Z-00000000\n"
    assert sorted(p.name for p in models.iterdir()) == ["CURRENT"]


@pytest.fixture(scope="module")
def sample_models(tmp_path_factory) -> tuple[Path, Path]:
    """(data, models dir): a model trained on a 480-row corpus sample with 2-fold CV, made current."""
    from training.train import train_model

    root = tmp_path_factory.mktemp("loop")
    data = corpus_sample(root / "sample.jsonl")
    models = root / "models"
    train_model(data, models_dir=models, cv=2, n_jobs=1, progress=None, version="20260101T000000Z-base0000")
    return data, models


def copy_models(models: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(models, target)
    return target


@pytest.mark.slow
def test_retraining_with_nothing_new_reproduces_the_current_model(sample_models, tmp_path):
    from classifier.artifacts import read_manifest

    data, models = sample_models
    models = copy_models(models, tmp_path / "models")
    store, job_id = job_store(tmp_path)
    job = run_job(job_id, job_settings(store.path, models, data))
    assert job["state"] == "rejected" and job["error"] is None
    assert job["verdict"]["decision"].startswith("rejected: nothing new to learn")
    assert job["metrics"]["base_holdout"]["candidate"] == job["metrics"]["base_holdout"]["current"]
    current = read_manifest(models / "20260101T000000Z-base0000")
    candidate = read_manifest(models / job["candidate_version"])
    assert candidate["metrics"] == current["metrics"] and candidate["thresholds"] == current["thresholds"]
    assert (models / "CURRENT").read_text().strip() == "20260101T000000Z-base0000"


@pytest.mark.slow
def test_sigterm_ends_the_job_as_failed_and_writes_no_copy_of_the_feedback(sample_models, tmp_path):
    data, models = sample_models
    models = copy_models(models, tmp_path / "models")
    store, job_id = job_store(tmp_path)
    store.add_feedback([{"text": text, "labels": []} for text in CAR_CORRECTIONS])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    settings = json.dumps(job_settings(store.path, models, data).to_json())
    command = [sys.executable, "-m", "service.jobs", job_id, "--settings", settings]
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any("read 12 feedback rows" in p["message"] for p in store.get_job(job_id)["progress"]):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 1
    job = store.get_job(job_id)
    assert (job["state"], job["error"]) == ("failed", "terminated by signal 15 (SIGTERM)")
    assert not any("feedback" in path.name for path in scratch.rglob("*"))  # read in memory, never written out
    assert sorted(p.name for p in models.iterdir()) == ["20260101T000000Z-base0000", "CURRENT", "HISTORY"]
    assert store.feedback_count() == len(CAR_CORRECTIONS)


def loop_client(sample_models, tmp_path: Path, monkeypatch, more: dict | None = None):
    """The service's test client over a copy of the sample models, on the retrain settings' defaults (plus
    the settings in `more`), whose `POST /v1/retrain` records the job without starting its process (the test
    runs it with `run_job`): (client, config, models dir, (job id, shadow passages) of each job started)."""
    import service.retrain
    from service import create_app

    data, models = sample_models
    models = copy_models(models, tmp_path / "models")
    for name in ("HTA_ADMIN_TOKEN", "HTA_PREDICT_TOKEN", "HTA_FEEDBACK_REQUIRES_ADMIN", "HTA_MAX_BATCH",
                 "HTA_FEEDBACK_WEIGHT", "HTA_RETRAIN_CROSSFIT_FOLDS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = {"TESTING": True, "MODELS_DIR": models, "FEEDBACK_DB": tmp_path / "service.sqlite3",
              "ADMIN_TOKEN": "admin", "PREDICT_TOKEN": None, "ACCESS_LOG": False, "RETRAIN_CV": 2,
              "RETRAIN_DATA": data, **(more or {})}  # fmt: skip
    started: list[tuple[str, int]] = []
    monkeypatch.setattr(
        service.retrain, "start_job_process", lambda job_id, config, store, shadow=0: started.append((job_id, shadow))
    )
    return create_app(config).test_client(), config, models, started


@pytest.mark.slow
def test_corrections_of_a_false_alarm_pattern_reach_the_served_model(sample_models, tmp_path, monkeypatch):
    """Feedback over HTTP -> retrain -> promoted -> the pattern no longer alarms; base held-out figures hold."""
    from training.splits import feedback_holdout_mask

    data, _ = sample_models
    client, config, models, started = loop_client(sample_models, tmp_path, monkeypatch)
    admin = {"Authorization": "Bearer admin"}

    before = client.post("/v1/predict", json={"texts": NEW_CAR_SENTENCES}).get_json()
    assert [r["labels"] for r in before["results"]] == [["hybrid_threat_warning"]] * 3  # the false alarm

    items = [{"text": text, "labels": [], "document_id": f"cars-{i}"} for i, text in enumerate(CAR_CORRECTIONS, 1)]
    held = feedback_holdout_mask([f"feedback-doc:{item['document_id']}" for item in items])
    assert held.tolist() == [False, False, False, True] + [False] * 8  # held out when crossfit is 0
    answer = client.post("/v1/feedback", json={"items": items}, headers=admin)
    assert answer.status_code == 201 and answer.get_json()["stored"] == 12

    answer = client.post("/v1/retrain", headers=admin)
    assert answer.status_code == 202
    job_id = answer.get_json()["job"]["id"]
    assert started == [(job_id, 0)]
    run_job(job_id, job_settings(config["FEEDBACK_DB"], models, data))

    job = client.get(f"/v1/jobs/{job_id}").get_json()
    assert job["state"] == "succeeded" and job["promoted"] is True
    verdict = job["verdict"]
    assert verdict["feedback_weight"] == DEFAULT_FEEDBACK_WEIGHT  # HTA_FEEDBACK_WEIGHT's default
    assert verdict["decision"].startswith(
        "promoted: better on the analyst's held-out text (on the 12 cross-fitted feedback rows (12 documents) the "
        "candidate makes 10 wrong label decisions, the current model 12;"
    )
    assert (verdict["feedback"]["excess"], verdict["feedback"]["passed"]) == (-2, True)
    assert verdict["base"]["passed"] is True
    # The corpus figures hold: no fall on the base held-out split beyond the gate's margin, even at the lower
    # end of its bootstrap interval (on corpus v5 the 12 corrections weighing 3 cost the base split a little:
    # lower bound 0.007, under the margin 0.02).
    assert verdict["base"]["fall_lower_bound"] <= DEFAULT_GATE_MARGIN
    base = job["metrics"]["base_holdout"]
    assert verdict["base"]["fall"] == pytest.approx(base["current"]["macro"]["f1"] - base["candidate"]["macro"]["f1"])

    after = client.post("/v1/predict", json={"texts": NEW_CAR_SENTENCES}).get_json()
    assert after["model_version"] == job["candidate_version"]
    # New sentences of the pattern, never trained on: from near-certain alarms to no alarm at all, every score
    # under the served model's own threshold for the label.
    threshold = client.get("/v1/model").get_json()["thresholds"]["hybrid_threat_warning"]
    before_scores = [r["scores"]["hybrid_threat_warning"] for r in before["results"]]
    after_scores = [r["scores"]["hybrid_threat_warning"] for r in after["results"]]
    assert min(before_scores) > 0.95 and max(after_scores) < threshold
    assert [r["labels"] for r in after["results"]] == [[]] * 3
    threats = client.post("/v1/predict", json={"text": "Russia is waging a hybrid war of disinformation."}).get_json()
    assert threats["results"][0]["labels"] == ["hybrid_threat_warning"]


# Registers of their own, and whether their 200 labels are promoted: the EU's legal acts (sanctions on hybrid
# activities) are; the White House's statements are not, since the candidate fit to them falls on the base
# held-out split beyond the gate's margin (0.61 -> 0.50 macro-F1 on its 99 rows), though better on the register.
REGISTERS = [("eu_official_journal", True), ("us_presidency", False)]


def doc_id(row: dict) -> str:
    """A short id of a corpus row's document (its address is longer than an id may be)."""
    import hashlib

    return hashlib.sha256(row["doc"].encode()).hexdigest()[:16]


def register_halves(
    data: Path, register: str, pool_rows: int = 200, score_rows: int = 300
) -> tuple[list[dict], list[dict]]:
    """The corpus rows of `register` that the base model never saw (not in `data`, not unsure), split by
    document into two halves as issue 21 measures adaptation: (pool half -> feedback, other half -> scored)."""
    import hashlib

    seen = {json.loads(line)["id"] for line in data.read_text(encoding="utf-8").splitlines()}
    rows = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["source"] == register and r["id"] not in seen and not r["unsure"]]
    in_pool = [hashlib.sha256(r["doc"].encode()).digest()[0] % 2 == 0 for r in rows]
    pool = [r for r, p in zip(rows, in_pool, strict=True) if p]
    scored = [r for r, p in zip(rows, in_pool, strict=True) if not p]
    return pool[:pool_rows], scored[:score_rows]


def served_macro_f1(client, rows: list[dict]) -> tuple[float, str]:
    """Macro-F1 of the served model's alerts (its own thresholds, over HTTP) on `rows`, over the labels with
    positives among them; and the version that answered."""
    from sklearn.metrics import f1_score

    answer = client.post("/v1/predict", json={"texts": [r["text"] for r in rows]}).get_json()
    labels = [label for label in DEFAULT_LABELS if any(label in r["labels"] for r in rows)]
    truth = np.array([[label in r["labels"] for label in labels] for r in rows])
    alerts = np.array([[label in result["labels"] for label in labels] for result in answer["results"]])
    return float(f1_score(truth, alerts, average="macro", zero_division=0)), answer["model_version"]


@pytest.mark.slow
@pytest.mark.parametrize(("register", "promoted"), REGISTERS)
def test_a_promoted_model_serves_its_feedback_register_better(register, promoted, sample_models, tmp_path, monkeypatch):
    """Issue 21: 200 labels of a new register posted as feedback and retrained through the HTTP API; a promoted
    model's alerts on the register's other half (documents never posted) are better than the model's before
    it, and a candidate the gate refuses changes nothing served."""

    data, _ = sample_models
    client, config, models, _ = loop_client(sample_models, tmp_path, monkeypatch)
    admin = {"Authorization": "Bearer admin"}
    pool, scored = register_halves(data, register)
    assert (len(pool), len(scored)) == (200, 300)
    before, base_version = served_macro_f1(client, scored)

    items = [{"text": r["text"], "labels": r["labels"], "document_id": doc_id(r), "document_source": register}
             for r in pool]  # fmt: skip
    for start in range(0, len(items), 100):  # HTA_MAX_FEEDBACK_ITEMS per request
        answer = client.post("/v1/feedback", json={"items": items[start : start + 100]}, headers=admin)
        assert answer.status_code == 201, answer.get_json()
    answer = client.post("/v1/retrain", headers=admin)
    assert answer.status_code == 202
    job_id = answer.get_json()["job"]["id"]
    run_job(job_id, job_settings(config["FEEDBACK_DB"], models, data))

    job = client.get(f"/v1/jobs/{job_id}").get_json()
    assert (job["state"], job["promoted"]) == ("succeeded" if promoted else "rejected", promoted)
    after, served = served_macro_f1(client, scored)
    print(f"{register}: {job['verdict']['decision'][:60]}; macro-F1 {before:.3f} -> {after:.3f}")  # with -s
    if promoted:
        assert (base_version, served) == ("20260101T000000Z-base0000", job["candidate_version"])
        assert after >= before + 0.05, (before, after)
    else:
        assert served == base_version and after == before
        assert job["verdict"]["decision"].startswith("rejected: better on the analyst's held-out text, but")


@pytest.mark.slow
def test_a_retrain_told_to_shadow_its_candidate_compares_it_on_live_traffic_first(sample_models, tmp_path, monkeypatch):
    """POST /v1/retrain {"shadow": N}: the candidate the gate passes scores N live passages beside the served
    version before it is promoted, and the verdict holds the comparison (the car-sense false alarm is gone)."""
    import threading

    data, _ = sample_models
    more = {"SHADOW_FILE": tmp_path / "shadow.json", "SHADOW_SHARE": 1.0}
    client, config, models, started = loop_client(sample_models, tmp_path, monkeypatch, more)
    admin = {"Authorization": "Bearer admin"}
    items = [{"text": text, "labels": [], "document_id": f"cars-{i}"} for i, text in enumerate(CAR_CORRECTIONS, 1)]
    assert client.post("/v1/feedback", json={"items": items}, headers=admin).status_code == 201
    assert client.post("/v1/retrain", json={"shadow": 0}, headers=admin).get_json() == {
        "error": {"code": "invalid_request", "message": "shadow: Input should be greater than or equal to 1"}
    }
    answer = client.post("/v1/retrain", json={"shadow": 6}, headers=admin)
    assert answer.status_code == 202
    job_id = answer.get_json()["job"]["id"]
    assert started == [(job_id, 6)]
    job = threading.Thread(target=run_job, args=(job_id, job_settings(config["FEEDBACK_DB"], models, data, 2, 6, more)))
    job.start()
    base = client.get("/v1/model").get_json()["version"]
    deadline = time.monotonic() + 300
    while job.is_alive() and time.monotonic() < deadline:  # live traffic while the job waits for its shadow
        answer = client.post("/v1/predict", json={"texts": NEW_CAR_SENTENCES}).get_json()
        assert answer["model_version"] == base or not job.is_alive()
        time.sleep(0.2)
    job.join(timeout=10)
    record = client.get(f"/v1/jobs/{job_id}").get_json()
    assert record["state"] == "succeeded" and record["promoted"] is True, record["verdict"]
    shadow = record["verdict"]["shadow"]
    assert shadow["complete"] is True and shadow["state"] == "done" and shadow["passages"] >= 6
    assert shadow["run"]["version"] == record["candidate_version"] and shadow["run"]["current_version"] == base
    hybrid = shadow["labels"]["hybrid_threat_warning"]
    assert hybrid["current_alert_rate"] == 1.0 and hybrid["shadow_alert_rate"] == 0.0  # the false alarm, gone
    assert hybrid["disagreements"] == shadow["passages"]
    assert "shadow: scoring 6 live passages with" in " ".join(p["message"] for p in record["progress"])
    assert (
        client.post("/v1/predict", json={"texts": NEW_CAR_SENTENCES}).get_json()["model_version"]
        == (record["candidate_version"])
    )


@pytest.mark.parametrize(
    ("comparison", "jump", "refusal"),
    [
        ({"complete": True, "labels": {"a": {"current_alert_rate": 0.1, "shadow_alert_rate": 0.19}}}, 2.0, None),
        (
            {"complete": True, "labels": {"a": {"current_alert_rate": 0.1, "shadow_alert_rate": 0.25}}},
            2.0,
            "in the shadow run a's alert rate jumped from 0.1000 to 0.2500 (more than 2 times; "
            "HTA_GATE_SHADOW_RATE_JUMP)",
        ),
        (
            {"complete": True, "labels": {"a": {"current_alert_rate": 0.0, "shadow_alert_rate": 0.01}}},
            2.0,
            "in the shadow run a's alert rate jumped from 0.0000 to 0.0100 (more than 2 times; "
            "HTA_GATE_SHADOW_RATE_JUMP)",
        ),
        ({"complete": True, "labels": {"a": {"current_alert_rate": 0.1, "shadow_alert_rate": 0.9}}}, 0.0, None),
        (
            {"complete": False, "passages": 3, "reason": "timed out after 60 s"},
            2.0,
            "the shadow run scored 3 of 10 passages (timed out after 60 s)",
        ),
    ],
)
def test_the_shadow_comparison_refuses_a_jump_in_alert_rate(comparison, jump, refusal, tmp_path):
    from training.retrain import shadow_refusal

    settings = RetrainSettings(tmp_path / "db", tmp_path, None, 0.02, 3.0, 2, 1, shadow_passages=10,
                               shadow_rate_jump=jump, shadow_file=tmp_path / "shadow.json", shadow_share=0.1,
                               shadow_timeout=60.0)  # fmt: skip
    assert shadow_refusal(comparison, settings) == refusal
