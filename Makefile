# Common tasks. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export PIP_CACHE_DIR

.PHONY: setup kafka idp browser realm demo chaos test unit integration lint typecheck validate topology format clean bench-detector bench outage fuzz fuzz-api

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

kafka: setup            ## fetch the pinned Apache Kafka jars with Maven (cached outside the repo)
	$(PY) -m homeward.broker fetch

idp: setup              ## fetch and build the pinned Keycloak with Maven, seed its realm database (cached outside the repo); finds or installs Java 21+
	$(PY) -m homeward.idp fetch

browser:                ## Debian's chromium and a CJK font for the console's browser tests (apt-get, as root)
	bash scripts/ensure_chromium.sh

realm: setup            ## regenerate deploy/keycloak/homeward-realm.json from the demo directory and roles table
	$(PY) -m homeward.idp realm

demo: kafka idp         ## the main job: a synthetic case end to end on a local broker
	$(PY) -m homeward_demo

chaos: kafka idp        ## the fault suite (not in CI; its short version is): 3 brokers, every service killed; CHAOS_ARGS="--short --only leader,poison"
	$(PY) -m chaos $(CHAOS_ARGS)

bench-detector: kafka   ## benchmark (not a test): detector vs raw consumer on 1M health records
	$(PY) benchmarks/detector.py $(BENCH_ARGS)

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

bench: kafka idp $(VENV)/.bench-installed   ## benchmark suite (not a test): codec, directory, fan-out, pipeline, memory vs the fastest raw client (Keycloak for intake's callers); BENCH_ARGS="--quick"
	$(PY) benchmarks/suite.py $(BENCH_ARGS)

fuzz: setup             ## fuzz campaign (not a test, not in CI): FUZZ_BUDGET seconds per target (default 600), FUZZ_TARGETS="codec yaml ..."
	$(PY) -m fuzz --budget $(or $(FUZZ_BUDGET),600) $(FUZZ_TARGETS)

$(VENV)/.fuzz-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,fuzz]'
	touch $@

fuzz-api: kafka idp $(VENV)/.fuzz-installed   ## schemathesis against intake's and the gateway's live OpenAPI (not in CI): FUZZ_API_EXAMPLES per operation (default 200), FUZZ_API_ARGS="--api gateway"
	nice -n 10 $(PY) -m fuzz.api --examples $(or $(FUZZ_API_EXAMPLES),200) $(FUZZ_API_ARGS)

# Test processes side by side, each with its own broker and Keycloak (tests/conftest.py):
# the integration tests mostly wait on brokers and timers, so 3 fill 2 cores.
# A module stays on one process (its module fixtures run once).
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadscope

test: kafka idp browser lint typecheck validate   ## everything CI runs; PYTEST_WORKERS=0 runs them in this one process
	$(PY) -m pytest -q $(PYTEST_PARALLEL)

unit: setup
	$(PY) -m pytest -q tests/unit tests/conformance

integration: kafka idp browser
	$(PY) -m pytest -q $(PYTEST_PARALLEL) tests/integration

outage: kafka idp       ## intake through a 60 s broker outage (CI runs a short one)
	HOMEWARD_OUTAGE_SECONDS=60 $(PY) -m pytest -q -s tests/integration/test_outage_intake.py

lint: setup
	$(PY) -m ruff check services tests chaos fuzz
	$(PY) -m ruff format --check services tests chaos fuzz

typecheck: setup        ## mypy --strict on the shared library
	$(PY) -m mypy

validate: setup         ## offline validators: docker-compose.yml and every kustomize build of deploy/k8s
	$(PY) scripts/validate_deploy.py

topology: setup         ## apply topology/topics.yaml to $$KAFKA_BOOTSTRAP_SERVERS
	$(PY) -m homeward.topology apply

format: setup
	$(PY) -m ruff format services tests chaos fuzz
	$(PY) -m ruff check --fix services tests chaos fuzz

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
