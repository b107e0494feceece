# prediag: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
export PYENV_VERSION ?= 3.13.0
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3.13
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
PORT ?= 3000
MOTO_PORT ?= 5005
LAMBDA_PORT ?= 3001

.PHONY: help setup lock browser run test lint typecheck template-check openapi build unit integration e2e bench clean docs

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Every environment installs from a lock (exact versions and hashes); `make lock` refreshes them.
LOCK_DEV := requirements/dev.lock
LOCK_SAM := requirements/sam.lock
LOCK_CHECKOV := requirements/checkov.lock
PIP_LOCKED := pip install -q --no-deps --require-hashes

$(BIN)/.installed: pyproject.toml $(LOCK_DEV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_LOCKED) -r $(LOCK_DEV)
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(SAM_VENV)/.installed: $(LOCK_SAM)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/$(PIP_LOCKED) -r $(LOCK_SAM)
	touch $@

$(CHECKOV_VENV)/.installed: $(LOCK_CHECKOV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/$(PIP_LOCKED) -r $(LOCK_CHECKOV)
	touch $@

# The Lambda python3.13 runtime provides these: the layers do not ship a second copy.
RUNTIME_PROVIDED := boto3 botocore s3transfer jmespath python-dateutil six urllib3
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.13 \
	--custom-compile-command "make lock"
LAYER_TARGET := --python-platform aarch64-manylinux2014 -c $(LOCK_DEV) \
	$(addprefix --no-emit-package ,$(RUNTIME_PROVIDED))

lock: $(BIN)/.installed ## Refresh every lock file from pyproject.toml and requirements/*.in
	$(UV_COMPILE) --universal pyproject.toml --extra ai --extra tools --extra dev -o $(LOCK_DEV)
	$(UV_COMPILE) --universal requirements/sam.in -o $(LOCK_SAM)
	$(UV_COMPILE) --universal requirements/checkov.in -o $(LOCK_CHECKOV)
	$(UV_COMPILE) $(LAYER_TARGET) pyproject.toml -o layers/common/requirements.txt
	$(UV_COMPILE) $(LAYER_TARGET) pyproject.toml --extra ai -o layers/ai/requirements.txt \
		$$(sed -n 's/^\([A-Za-z0-9._-]*\)==.*/--no-emit-package \1/p' layers/common/requirements.txt)

CHROMIUM ?= /usr/bin/chromium

setup: $(BIN)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed browser ## Create the virtual environments

browser: ## Debian's Chromium for the console's browser tests (installed when missing)
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "installing Debian's chromium (the console's browser tests drive it)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

run: $(BIN)/.installed ## Start the whole pipeline locally (moto + API + triggers), Ctrl-C stops it
	$(BIN)/prediag local start --port $(PORT) --moto-port $(MOTO_PORT) --lambda-port $(LAMBDA_PORT) $(ARGS)

lint: $(BIN)/.installed ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed ## mypy (strict on the shared package)
	$(BIN)/mypy layers/common/prediag tools
	for fn in functions/*/app.py; do $(BIN)/mypy "$$fn" || exit 1; done

template-check: $(BIN)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## cfn-lint, sam validate --lint, checkov
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --region eu-west-1
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

openapi: $(BIN)/.installed ## Regenerate docs/openapi.json from the API's routes
	$(BIN)/python -m prediag_tools.openapi

build: $(BIN)/.installed $(SAM_VENV)/.installed ## sam build (arm64, python3.13): the layers from their locks
	PYTHON=$(CURDIR)/$(BIN)/python $(SAM_VENV)/bin/sam build --cached --parallel

unit: $(BIN)/.installed ## Unit tests only
	$(BIN)/pytest tests/unit -q

integration: $(BIN)/.installed ## Integration tests: adapters and handlers against moto server on 127.0.0.1
	$(BIN)/pytest tests/integration -q

e2e: $(BIN)/.installed ## End-to-end tests: the local stack in subprocesses, over HTTP and the AWS APIs
	$(BIN)/pytest tests/e2e -q

test: setup lint typecheck template-check build ## Set up and run every check
	$(BIN)/pytest -q

docs: $(BIN)/.installed ## Regenerate the documents generated from code (and the triage anchors)
	$(BIN)/python -m prediag_tools.docs

BENCH_ARGS ?=
bench: $(BIN)/.installed build ## Benchmark suite (not tests): one table, also written to docs/benchmarks.md
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean: ## Remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
