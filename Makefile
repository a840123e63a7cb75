# vkurse-stats — one command per job. `make help` lists them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help venv run demo serve test check lint typecheck bench clean lock

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/vkurse-stats: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(BIN)/vkurse-stats ## Create .venv and install the locked dependencies

run: venv ## Install, create demo data (first time) and serve the dashboard on http://$(HOST):$(PORT)/
	@if [ ! -f $(DATA)/analytics.duckdb ]; then $(BIN)/vkurse-stats --data-dir $(DATA) demo; fi
	$(BIN)/vkurse-stats --data-dir $(DATA) serve --host $(HOST) --port $(PORT)

demo: venv ## (Re)create the demo company in $(DATA)
	$(BIN)/vkurse-stats --data-dir $(DATA) demo

test: venv ## Run every test (browser and LibreOffice tests need chromium / soffice)
	$(BIN)/pytest -q

check: lint typecheck test ## Lint, type-check and test

lint: venv ## ruff format --check + ruff check
	$(BIN)/ruff format --check vkurse_stats tests bench
	$(BIN)/ruff check vkurse_stats tests bench

typecheck: venv ## mypy --strict (configured in pyproject.toml)
	$(BIN)/mypy vkurse_stats

bench: venv ## Benchmarks (not tests): N=1000000 by default, e.g. make bench N=10000000
	$(BIN)/python bench/bench_core.py --n $${N:-1000000}
	$(BIN)/python bench/bench_web.py --n $${N:-1000000}
	$(BIN)/python bench/bench_export.py --events 100000
	$(BIN)/python bench/bench_load.py --seconds 60
	$(BIN)/python bench/bench_insight.py --n $${N:-1000000}
	$(BIN)/python bench/bench_alerts.py --batches 120 --rounds 5

lock: ## Re-resolve requirements.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --extra scale --extra dev --generate-hashes -p 3.11 -o requirements.lock -q

clean: ## Remove the virtual environment and caches (not the data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
