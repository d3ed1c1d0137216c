# Orderdock. `make run` starts the product, `make test` runs every test.
# Both set up what they need first (.venv, Debian packages) and redo it only when needed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps live inside .venv: deleting .venv forgets them too.
RUN_STAMP := $(VENV)/.stamp-run
TEST_STAMP := $(VENV)/.stamp-test
PINS := pyproject.toml constraints.txt

.PHONY: run test bench faults clean system-test-packages

run: $(RUN_STAMP)
	@$(PY) scripts/run.py

# Test files run in TEST_WORKERS parallel processes (pytest-xdist), each file whole in one of them and
# the browser tests together in one (see conftest.py), each process with its own Redis, server and
# browser; TEST_WORKERS=0 runs them one after another.
TEST_WORKERS ?= 3
test: $(TEST_STAMP) system-test-packages
	@$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# One table of import, sync and orders-page figures (bench/performance.py; a smoke run:
# BENCH_ARGS="--runs 1 --orders 1000 --big-orders 3000"). `make faults` prints the fault matrix
# (bench/faults.py, long; FAULTS_ARGS="--short" for its short form).
bench: $(RUN_STAMP)
	@$(PY) bench/performance.py $(BENCH_ARGS)

faults: $(RUN_STAMP)
	@$(PY) bench/faults.py $(FAULTS_ARGS)

clean:
	rm -rf build/ *.egg-info/ .pytest_cache/ e2e/artifacts/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "Kept $(VENV)/ and instance/ (demo database, secret key); delete them to start afresh."

# The virtualenv itself (python3-venv is installed when missing).
$(VENV)/bin/pip:
	@PYTHON=$(PYTHON) scripts/bootstrap.sh venv

# Reinstall only when the pins changed. The test stamp implies the run stamp.
$(RUN_STAMP): $(PINS) | $(VENV)/bin/pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	@touch $@

$(TEST_STAMP): $(PINS) | $(VENV)/bin/pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@ $(RUN_STAMP)

# Debian's Chromium for the browser tests and redis-server for the tests' private Redis.
system-test-packages:
	@scripts/bootstrap.sh packages redis-server chromium
	@command -v npm >/dev/null || echo "Note: npm is missing; the browser tests use it to fetch htmx (sudo apt-get install npm)."
