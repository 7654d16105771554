# One short command each: install, demo, test, check, bench. CI calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install demo test test-fast test-browser check api-docs bench mutate chromium s3-server clean

help:
	@echo "make demo    - install, build the dashboard, train the digits demo, start both services"
	@echo "make test    - install test dependencies (incl. Chromium) and run the whole suite"
	@echo "make check   - ruff + mypy"
	@echo "make bench   - run the benchmarks in bench/"
	@echo "make mutate  - mutation testing of the data-safety modules (score per module, survivors)"

$(STAMP): pyproject.toml hatch_build.py $(wildcard dashboard/package-lock.json)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	# torch is pinned to the CPU wheel that lies on this machine; any other version pulls CUDA.
	$(PIP) install --quiet 'torch==2.13.0'
	$(PIP) install --quiet -e '.[dev,all,bench]'
	touch $(STAMP)

install: $(STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

demo: install
	$(VENV)/bin/tercet demo

test: install chromium
	# --durations: the slowest tests in every CI log, to keep the suite within its 15 minutes.
	TERCET_REQUIRE_BROWSER=1 $(PY) -m pytest -q --durations=40

test-fast: install
	$(PY) -m pytest -q -m "not browser"

test-browser: install chromium
	TERCET_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/browser

check: install
	$(VENV)/bin/ruff check src tests bench examples scripts
	$(VENV)/bin/ruff format --check src tests bench examples scripts
	$(VENV)/bin/mypy
	# docs/python-api.md lists every public name with the signature the code has.
	$(PY) scripts/python_api.py --check
	cd dashboard && npm run check
	# The dashboard's client types must match the committed OpenAPI document.
	cd dashboard && npm run gen:api >/dev/null && git diff --exit-code src/api/schema.d.ts

api-docs: install
	$(PY) scripts/python_api.py

bench: install chromium
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed"; exit 1; fi

# Not part of `make test`: ~30 minutes on 2 cores. Configured in pyproject.toml [tool.mutmut].
mutate: install
	rm -rf mutants mutants.log
	# mutmut runs the type checker from mutants/, so the venv goes on PATH by its absolute path.
	# scripts/mutation_run.py writes mutmut's output to mutants.log with each phase's start time.
	# One test process more than cores: a surviving mutant's tests wait on the service's threads
	# and sockets for about half their wall time (docs/testing.md, "Where the time goes").
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH OMP_NUM_THREADS=1 $(PY) scripts/mutation_run.py mutants.log -- $(VENV)/bin/mutmut run --max-children $$(( $$(nproc) + 1 )) || { tail -c 3000 mutants.log; exit 1; }
	$(PY) scripts/mutation_report.py

s3-server: install
	$(PY) -m tercet.testing.s3server

clean:
	rm -rf $(VENV) dashboard/node_modules src/tercet/static
