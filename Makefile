# Hybrid-threat alert classifier: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help serve test test-fast lint format train evaluate punkt bench bench-service bench-batch clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

# The pinned dependencies, then the project itself in editable mode (its commands: hta-classify,
# hta-train, hta-serve in $(VENV)/bin; setuptools, pinned in pyproject.toml, is fetched to build it).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

serve: $(VENV)/.installed ## Run the service on 127.0.0.1:8000 (the bundled model, or the one made current in HTA_HOME)
	$(PY) -m service

test: $(VENV)/.installed ## Run the whole test suite (TEST_WORKERS=2 processes)
	$(TEST_ENV) $(PY) -m pytest -q -n $(TEST_WORKERS)

# The fast tier spreads over TEST_WORKERS processes (pytest-xdist); the small test model is trained once for
# them all, or copied from its cache in ~/.cache/hybrid-threat-alerts/test-models (tests/small_model.py).
TEST_WORKERS ?= 2
# Tests run with compiled modules cached outside the checkout (even where PYTHONDONTWRITEBYTECODE is set):
# compiling the project and rewriting the tests' asserts anew on every run was a third of the fast tier's CPU.
PYCACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hybrid-threat-alerts/pycache
TEST_ENV := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(PYCACHE)

# The fast tier deselects the (slow) schemathesis module: not importing it, nor loading schemathesis' pytest
# plugin, saves each test process about 0.4 s.
FAST_SKIP := -p no:schemathesis --ignore=tests/service/test_schemathesis.py

test-fast: $(VENV)/.installed ## Run the tests that need no browser and start no server (TEST_WORKERS=2 processes)
	$(TEST_ENV) $(PY) -m pytest -q -m "not slow and not e2e" -n $(TEST_WORKERS) $(FAST_SKIP)

lint: $(VENV)/.installed ## Check style with ruff
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(VENV)/.installed ## Format the code with ruff
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

train: $(VENV)/.installed ## Train a model on the bundled corpus into HTA_HOME and make it current
	$(PY) -m training train

evaluate: $(VENV)/.installed ## Evaluate the current model on DATA=file.jsonl
	$(PY) -m training evaluate --data $(DATA)

punkt: $(VENV)/.installed ## Retrain the shipped Punkt sentence-boundary parameters from the corpus
	$(PY) -m training punkt

# fastText for the benchmark's comparison, in an environment of its own: its fasttext_pybind module would
# replace fasttext-predict's (the project's language identifier) in $(VENV).
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.installed $(BENCH_VENV)/.installed ## Model benchmark: training time, throughput, latency, size, memory, fastText ratio
	$(PY) bench/bench_model.py --fasttext-python $(BENCH_VENV)/bin/python

bench-service: $(VENV)/.installed ## HTTP benchmark of the production server with wrk (loopback; BEFORE=rev compares)
	bash bench/install-wrk
	$(PY) bench/bench_service.py $(if $(BEFORE),--before $(BEFORE))

bench-batch: $(VENV)/.installed ## Batch scoring benchmark: 1 and 2 processes, Dask LocalCluster
	$(PY) bench/bench_batch.py

clean: ## Remove caches and reports (keeps models/ and the virtualenv)
	rm -rf .pytest_cache .ruff_cache reports test-results
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
