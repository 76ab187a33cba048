"""Shared fixtures.

Two models serve the tests:

- code tests use a *small* model trained on a fixed slice of the bundled corpus (every eighth row, 2-fold
  CV; tests/small_model.py): the code paths are the same as for the full model and training takes
  seconds. Under pytest-xdist the controller trains it while the workers start. It is cached outside the
  checkout under a hash of corpus, code and library versions, so a run where none changed copies it;
- behavioural tests (marker ``behavior``) use the *shipped* default model, the one users get.

Tests never write into the project's own `models/`: every fixture that needs a models directory
points `HTA_MODELS_DIR` (or an explicit path) at a temporary one.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from classifier.config import PROJECT_ROOT
from tests import small_model

RAM_TEMP_ROOT = "/dev/shm"
RAM_TEMP_MIN_FREE = 2 * 1024**3


def _use_ram_for_temporary_files() -> None:
    """Put the tests' temporary folders on tmpfs when there is room (unless PYTEST_DEBUG_TEMPROOT says where).

    Most of a service test's set-up is SQLite creating its database and switching it to WAL, which waits
    for the disk twice (about 40 ms an app, a third of the fast tier's time in all); on tmpfs that wait
    is gone. Nothing else changes: the code under test does the same writes and syncs.
    """
    try:
        st = os.statvfs(RAM_TEMP_ROOT)
    except OSError:
        return
    if os.access(RAM_TEMP_ROOT, os.W_OK) and st.f_bavail * st.f_frsize >= RAM_TEMP_MIN_FREE:
        os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", RAM_TEMP_ROOT)


_use_ram_for_temporary_files()
ADMIN = "admin-secret-token"  # the admin token of `app_config`


# Set by the xdist controller for its workers: the folder it trains the small model in.
SHARED_SMALL_MODEL = "HTA_TEST_SHARED_SMALL_MODEL"
_SHARED = pytest.StashKey[tuple]()  # the controller's (folder, training process, log file)


def pytest_configure(config):
    """Under pytest-xdist, get the small model from the cache, or start training it in the controller
    while the workers start."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    folder = Path(tempfile.mkdtemp(prefix="hta-small-model-", dir=os.environ.get("PYTEST_DEBUG_TEMPROOT")))
    if small_model.from_cache(folder):
        config.stash[_SHARED] = (folder, None, None)
    else:
        log = open(folder / small_model.LOG, "wb")  # noqa: SIM115 (closed in pytest_unconfigure)
        process = subprocess.Popen([sys.executable, "-m", "tests.small_model", str(folder)], cwd=PROJECT_ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        config.stash[_SHARED] = (folder, process, log)
    os.environ[SHARED_SMALL_MODEL] = str(folder)


def pytest_unconfigure(config):
    """Stop (if still running) and remove the controller's small model."""
    shared = config.stash.get(_SHARED, None)
    if shared is None:
        return
    folder, process, log = shared
    if process is not None:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
    os.environ.pop(SHARED_SMALL_MODEL, None)
    shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_finish(session):
    """Exempt what import and collection built from the cyclic garbage collector (`gc.freeze`).

    Those objects (numpy, scipy, scikit-learn, Flask, the test items) live until the process ends, yet every
    full collection walks them all again: pytest's five at the end of a session (to report unraisable
    exceptions) took 0.8 s a worker, and the automatic ones during the run add up too.
    """
    gc.freeze()


def pytest_collection_modifyitems(config, items):
    """Tests that need no small model run first (in collection order otherwise): under pytest-xdist the
    workers run them while the controller trains the model, instead of waiting for it."""
    items.sort(key=lambda item: "small_model_folder" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def small_model_folder(tmp_path_factory) -> Path:
    """The folder holding the corpus slice and the small model's models directory (read-only for tests)."""
    shared = os.environ.get(SHARED_SMALL_MODEL)
    if shared:
        return small_model.wait_for(Path(shared))
    return small_model.obtain(tmp_path_factory.mktemp("small-model"))


@pytest.fixture(scope="session")
def corpus_slice(small_model_folder) -> Path:
    """Every `small_model.SLICE_STRIDE`-th row of the bundled corpus, as a JSONL file."""
    return small_model_folder / small_model.SLICE_FILE


@pytest.fixture(scope="session")
def trained_models_dir(small_model_folder) -> Path:
    """A models directory holding one current version trained on the corpus slice (2-fold CV)."""
    return small_model_folder / small_model.MODELS_DIR


@pytest.fixture(scope="session")
def trained_version_dir(trained_models_dir) -> Path:
    """The directory of the session's small trained model version."""
    from classifier.versions import resolve_version_dir

    return resolve_version_dir(trained_models_dir)


@pytest.fixture(scope="session")
def predictor(trained_version_dir):
    """A `Predictor` on the session's small trained model."""
    from classifier.predictor import Predictor

    return Predictor.load(trained_version_dir)


@pytest.fixture(scope="session")
def shipped_predictor():
    """A `Predictor` on the shipped default model (the behavioural tier)."""
    from classifier.predictor import Predictor
    from classifier.versions import resolve_version_dir

    return Predictor.load(resolve_version_dir(PROJECT_ROOT / "models"))


@pytest.fixture
def models_copy(trained_models_dir, tmp_path) -> Path:
    """A private copy of the trained models directory, for tests that change or break it."""
    target = tmp_path / "models"
    shutil.copytree(trained_models_dir, target)
    return target


# Variables of a developer's shell that would change a test app's behaviour: cleared for every test app.
APP_ENVIRONMENT_CLEARED = (
    "HTA_ADMIN_TOKEN", "HTA_PREDICT_TOKEN", "HTA_FEEDBACK_REQUIRES_ADMIN", "HTA_MAX_BATCH",
    "HTA_LS_AUTH", "HTA_LS_BASIC_AUTH_USER", "HTA_LS_BASIC_AUTH_PASS", "HTA_ANALYSTS_FILE", "HTA_LABELS_OPEN",
    "HTA_QUEUE_OVERLAP", "HTA_QUEUE_LEASE_SECONDS",
)  # fmt: skip


def service_settings(models: Path, folder: Path, corpus_slice: Path) -> dict:
    """Settings of a test app on the models directory `models`, with its database in `folder`."""
    return {
        "TESTING": True,
        "MODELS_DIR": models,
        "FEEDBACK_DB": folder / "service.sqlite3",
        "ADMIN_TOKEN": ADMIN,
        "PREDICT_TOKEN": None,
        # Tests of other things post labels anonymously, as the single-user set-up does; the default (labels
        # need an analyst's or the admin's token) is tested in tests/service/test_analysts.py.
        "LABELS_OPEN": True,
        "ACCESS_LOG": False,
        "RETRAIN_CV": 2,
        "RETRAIN_DATA": corpus_slice,  # the test model's own data: a retrain with nothing new reproduces it
    }


def isolate_app_environment(monkeypatch: pytest.MonkeyPatch, home: Path, clear: tuple[str, ...] = ()) -> None:
    """No bundled model (only the test's models directory), `home` as HTA_HOME, the `clear` variables unset."""
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")
    monkeypatch.setenv("HTA_HOME", str(home))
    for name in clear:
        monkeypatch.delenv(name, raising=False)


# The store's engines. Tests of the store (the modules below, through `app_config` or `store_url`) run on
# both: SQLite, and PostgreSQL in a throwaway cluster (tier `slow`: it starts a server), skipped with a
# reason where PostgreSQL is not installed. A test that reads the SQLite file itself is `sqlite_only`.
STORE_MODULES = {
    "tests/service/test_queue.py",
    "tests/service/test_queue_team.py",
    "tests/service/test_team_adjudication.py",
    "tests/service/test_analysts.py",
    "tests/service/test_store_engines.py",
    "tests/service/test_schema.py",
}
POSTGRESQL_PARAM = pytest.param("postgresql", marks=[pytest.mark.postgresql, pytest.mark.slow])


def pytest_generate_tests(metafunc):
    """Run the store modules' tests on both engines (`store_engine`), `sqlite_only` ones on SQLite alone."""
    if "store_engine" not in metafunc.fixturenames:
        return
    path = Path(metafunc.definition.fspath).relative_to(PROJECT_ROOT).as_posix()
    if path in STORE_MODULES and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("store_engine", ["sqlite", POSTGRESQL_PARAM], indirect=True)


@pytest.fixture
def store_engine(request) -> str:
    """The store's engine of this test: ``sqlite`` unless the test is parametrised with ``postgresql``."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the session (tests/postgres.py), with a migrated template
    database; skips with a reason where PostgreSQL is not installed."""
    from tests import postgres

    folder = postgres.binaries()
    if folder is None:
        pytest.skip(postgres.SKIP_REASON)
    cluster = postgres.Cluster(folder).start()
    try:
        template = cluster.create_database()
        from service.database import close_engines
        from service.store import Store

        Store(template).init()  # every test database is a copy of the migrated schema: nothing to migrate
        close_engines(template)
        cluster.template = template.rsplit("/", 1)[1]
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres_url(postgres_cluster):
    """The URL of a new database of the session's cluster, dropped after the test."""
    from service.database import close_engines

    url = postgres_cluster.create_database(template=postgres_cluster.template)
    yield url
    close_engines(url)
    postgres_cluster.drop_database(url)


@pytest.fixture
def store_url(store_engine, tmp_path, request) -> str:
    """The store of this test's engine: an SQLite file in `tmp_path`, or a new PostgreSQL database."""
    if store_engine == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "service.sqlite3")


@pytest.fixture
def app_config(models_copy, corpus_slice, tmp_path, monkeypatch, store_engine, request) -> dict:
    """Settings of a service app on a private copy of the small model, its own database and user data dir
    (and none of `APP_ENVIRONMENT_CLEARED` set); with `store_engine` postgresql, its own PostgreSQL database."""
    isolate_app_environment(monkeypatch, tmp_path / "hta-home", APP_ENVIRONMENT_CLEARED)
    settings = service_settings(models_copy, tmp_path, corpus_slice)
    if store_engine == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return settings


@pytest.fixture(scope="module")
def shared_app(trained_models_dir, corpus_slice, tmp_path_factory):
    """`shared_app(**settings)`: a service app the whole test module shares, one per distinct `settings`.

    For requests that must change nothing (bad input, refused credentials, predictions): building an app
    costs about 15 ms (werkzeug compiles every route), and the parametrized bad-input tests built 136 of
    the 272. Sharing one also checks what a private app could not: that each refused request left nothing
    behind for the requests after it.
    """
    from service import create_app

    folder = tmp_path_factory.mktemp("shared-app")
    shutil.copytree(trained_models_dir, folder / "models")
    apps: dict[str, object] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_app_environment(monkeypatch, folder / "hta-home", APP_ENVIRONMENT_CLEARED)

        def get(**settings):
            key = repr(sorted(settings.items()))
            if key not in apps:  # each app its own database
                (folder / str(len(apps))).mkdir()
                base = service_settings(folder / "models", folder / str(len(apps)), corpus_slice)
                apps[key] = create_app({**base, **settings})
            return apps[key]

        yield get
