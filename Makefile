# newsdrop developer commands.  `make run` starts the local stack with the sample posts;
# `make test` installs everything and runs every check (what .ci/run does).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      ?= .venv
SAM_VENV  ?= .venv-sam
SAM_CLI_VERSION ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV ?= .venv-checkov
LOCK_VENV ?= .venv-lock
PYTHON    := $(VENV)/bin/python
PYTEST    := $(PYTHON) -m pytest
SAM       := $(SAM_VENV)/bin/sam
REGION    ?= us-east-1
SAM_BUILD_DIR ?= .aws-sam/build
POSTS     ?= samples/site
HOST      ?= 127.0.0.1
S3_PORT   ?= 4566
SITE_PORT ?= 8080
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# sam validate runs offline with a region set and needs no credentials; keep SAM CLI from
# phoning home (telemetry) and botocore from probing the EC2 metadata service.
SAM_ENV := AWS_DEFAULT_REGION=$(REGION) AWS_REGION=$(REGION) SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true

# `make lock`: every file of every pinned version hashed, no machine-specific index or find-links.
PIP_COMPILE := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

# `sam build` without Docker needs a python3.12 (the functions' runtime) on PATH: put the
# folder of a real one (not a pyenv shim) first. Expanded only when sam-build runs.
PY312_DIR = $(shell dirname "$$(scripts/find-python.sh --3.12)")

.PHONY: soak load help install install-sam install-checkov install-browser install-jekyll lint template security sam-build unit \
        integration e2e test lock \
        run bench bench-quick format clean distclean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ------------------------------------------------------------------------------ setup

install: $(VENV)/.installed ## .venv with the project (editable) and dev tools; gives .venv/bin/newsdrop

$(VENV)/.installed: pyproject.toml requirements-dev.txt scripts/install-venv.sh scripts/find-python.sh
	scripts/install-venv.sh $(VENV)
	touch $@

install-sam: ## .venv-sam with the AWS SAM CLI (its own venv: its boto3 pins clash with moto's)
	scripts/install-tool.sh $(SAM_VENV) aws-sam-cli $(SAM_CLI_VERSION) sam

install-checkov: ## .venv-checkov with checkov (its own venv: its pins clash with moto's and cfn-lint's)
	scripts/install-tool.sh $(CHECKOV_VENV) checkov $(CHECKOV_VERSION) checkov

install-browser: ## Debian's chromium for the browser tests (never a Playwright download)
	@if [ -x /usr/bin/chromium ]; then \
	    echo "install-browser: $$(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"; \
	else \
	    $(SUDO) apt-get update; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

install-jekyll: ## Debian's jekyll: the bench's comparison and the migration test build sites with it
	@if command -v jekyll >/dev/null 2>&1; then \
	    echo "install-jekyll: $$(jekyll --version 2>/dev/null || command -v jekyll)"; \
	else \
	    $(SUDO) apt-get update; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jekyll; \
	fi

# ------------------------------------------------------------------------------ checks

lint: install ## ruff check, ruff format --check, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

template: install install-sam ## sam validate (offline) + cfn-lint on template.yaml
	$(SAM_ENV) $(SAM) validate --region $(REGION) --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml

security: install install-checkov ## checkov on template.yaml (skips justified inline), bandit on layers/ and functions/
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(VENV)/bin/bandit --quiet --configfile pyproject.toml --recursive --severity-level low --confidence-level low \
	    layers/newsdrop/newsdrop functions

sam-build: install-sam ## sam build without Docker (into .aws-sam/build)
	PATH="$(PY312_DIR):$$PATH" $(SAM_ENV) $(SAM) build --template template.yaml \
	    --build-dir $(SAM_BUILD_DIR) --cache-dir .aws-sam/cache --cached

# pytest exits 5 when a folder holds no tests yet: not a failure for a single-folder target.
unit: install ## unit tests (no network)
	$(PYTEST) tests/unit || [ $$? -eq 5 ]

integration: install ## integration tests (moto)
	$(PYTEST) tests/integration || [ $$? -eq 5 ]

e2e: install install-browser ## end-to-end tests (local stack, headless chromium)
	$(PYTEST) tests/e2e || [ $$? -eq 5 ]

test: install install-sam install-checkov install-browser install-jekyll lint template security sam-build ## everything: setup, lint, template, security, build, all tests
	$(PYTEST) tests

# ------------------------------------------------------------------------------ use

run: install ## the local stack (moto + pollers + site server) with the sample posts
	$(VENV)/bin/newsdrop dev --posts $(POSTS) --host $(HOST) --s3-port $(S3_PORT) --site-port $(SITE_PORT)

bench: install install-jekyll ## the benchmark
	$(PYTHON) -m bench.run

bench-quick: install install-jekyll ## a short benchmark run
	$(PYTHON) -m bench.run --quick

format: install ## rewrite code with ruff (format + autofix)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## remove build output and caches (keeps the venvs)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/work
	find . -path ./$(VENV) -prune -o -path ./$(SAM_VENV) -prune -o -path ./$(CHECKOV_VENV) -prune \
	    -o -path ./$(LOCK_VENV) -prune -o -path ./.git -prune -o \
	    -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## clean, and remove the venvs too
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(LOCK_VENV)

# Maintainers only (needs PyPI): recompile the hashed pins after changing a version in pyproject.toml.
lock: ## recompile layers/newsdrop/requirements.txt and requirements-dev.txt with hashes (pip-tools)
	[ -x $(LOCK_VENV)/bin/pip-compile ] || { "$$(scripts/find-python.sh --3.12)" -m venv $(LOCK_VENV) && \
	    $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	cd layers/newsdrop && ../../$(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE) --extra dev --output-file requirements-dev.txt pyproject.toml requirements-dev.in

soak: install ## the convergence property test with many more examples (slow)
	NEWSDROP_CONVERGENCE_EXAMPLES=$${EXAMPLES:-300} $(PYTEST) tests/integration/test_convergence.py

load: install ## 2,000 uploads from 8 concurrent clients through the local stack; writes bench/results/load.json
	$(PYTHON) -m bench.load --posts 2000 --clients 8 --concurrency 2
