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

.PHONY: run test bench clean system-test-packages

run: $(RUN_STAMP)
	@$(PY) scripts/run.py

# Test files run in TEST_WORKERS parallel processes (pytest-xdist), each file whole in one of them and
# the browser tests together in one (see conftest.py), each process with its own Redis, server and
# browser; TEST_WORKERS=0 runs them one after another.
TEST_WORKERS ?= 3
test: $(TEST_STAMP) system-test-packages
	@$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(RUN_STAMP)
	@shopt -s nullglob; files=(bench/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "There are no benchmarks in bench/."; exit 0; fi; \
	for f in "$${files[@]}"; do echo "==> $$f"; $(PY) "$$f" || exit 1; done

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
