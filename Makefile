# The two commands of the README: `make up` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
# A uv already on PATH is used as is; otherwise a pinned one is installed under .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
PY := $(CURDIR)/.venv/bin
SYNCED := .venv/.synced
MEMBERS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml operator/pyproject.toml)

.PHONY: help install up test lint bench profile clean

help:
	@echo "make up    - run the local stack (PostgreSQL, Redis, user-api :8000, bank-webhook :8001)"
	@echo "make test  - lint, type-check and run every test"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNCED): pyproject.toml uv.lock $(MEMBERS) | $(UV)
	$(UV) sync --frozen --all-packages
	@touch $@

install: $(SYNCED)

up: install
	exec $(PY)/okane up

lint: install
	$(PY)/ruff check .
	$(PY)/ruff format --check .
	$(PY)/mypy
	$(PY)/lint-imports

test: lint
	$(PY)/pytest

# Benchmarks against same-run baselines; writes bench/results.json (installs wrk if missing).
bench: install
	SCENARIO=$(SCENARIO) $(PY)/python -m bench.run

# Where user-api spends its CPU on transfers and cached reads (py-spy, top functions).
profile: install
	$(PY)/python -m bench.profile

clean:
	rm -rf .venv .tools .okane .mypy_cache .ruff_cache .pytest_cache

# Kubernetes toolchain and local control plane (operator tests).
include make/k8s.mk
# Chromium for the web app's browser tests.
include make/browser.mk
