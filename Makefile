# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit install mutants bench bench-peers bench-features bench-smoke bench-workflows clean example-fastapi example-django

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/quickstart/run_demo.py

# The other examples, one command each (examples/README.md); ARGS=--serve keeps their server running.
example-fastapi: $(STAMP)
	$(BIN)/python examples/fastapi_app/run.py $(ARGS)

example-django: $(STAMP)
	$(BIN)/python examples/django_shop/run.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tasks tests examples
	$(BIN)/ruff format --check tasks

types: $(STAMP)
	$(BIN)/mypy --strict tasks

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint types unit

# Planted bugs, one at a time, in a copy of the repository: each must fail its tests (not part of `make test`).
# MUTANTS_ARGS passes options through, e.g. make mutants MUTANTS_ARGS="--only heartbeat-never-renews -v".
mutants: $(STAMP)
	$(BIN)/python -m tests.mutants.run $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- benchmarks: the peers and matplotlib live in bench/.venv only, never in the project's dependencies ---
BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml bench/requirements.txt bench/requirements-nodeps.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . -r bench/requirements.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps -r bench/requirements-nodeps.txt
	touch $(BENCH_STAMP)

# The peers side by side, then the ratios each feature must keep (each script prints its own figures).
bench: bench-peers bench-features

bench-peers: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/runner.py

# Each feature against the same code without it, in one run: workflows (docs/workflows.md), flow control
# (docs/flow-control.md), metrics on and off (docs/metrics.md).
bench-features: $(STAMP)
	$(BIN)/python bench/workflows.py
	$(BIN)/python bench/flow_control.py
	$(BIN)/python bench/metrics_ab.py

bench-smoke: $(STAMP)
	$(BIN)/python bench/runner.py --smoke

# Workflow figures (batch send vs bulk, batch-member drain vs plain, chain hand-off): docs/workflows.md
bench-workflows: $(STAMP)
	$(BIN)/python bench/workflows.py
