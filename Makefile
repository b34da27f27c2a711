# upsconnect: every target sets up what it needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
export FLASK_APP := portal

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "upsconnect needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the project with its test tools

.PHONY: run
run: $(STAMP) ## Start broker, portal, ingest and a demo fleet at http://127.0.0.1:$(PORT) (lab mode, SQLite)
	UPSCONNECT_LAB_MODE=1 $(BIN)/python -m portal.lab_stack --port $(PORT)

.PHONY: browser
browser: $(STAMP) ## Make sure a Chromium exists for the browser tests (system one, or Playwright's)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "Using system Chromium: $$(command -v chromium || command -v chromium-browser)"; \
	else \
		$(BIN)/python -m playwright install chromium; \
	fi

.PHONY: test
test: $(STAMP) browser ## Run every test: unit, integration and end-to-end, then the portal's on PostgreSQL
	$(BIN)/pytest tests e2e
	$(MAKE) --no-print-directory test-postgres

.PHONY: test-postgres
test-postgres: $(STAMP) browser ## Run the portal's, ingest's and the security tests and one browser journey on PostgreSQL (skipped when no server answers; see README)
	UPSCONNECT_TEST_DATABASE=postgres $(BIN)/pytest tests/portal tests/ingest tests/partner tests/reports tests/notifications tests/security --deselect tests/portal/test_migrations.py -q
	UPSCONNECT_TEST_DATABASE=postgres $(BIN)/pytest e2e/test_power_event_journey.py -q

.PHONY: unit
unit: $(STAMP) ## Run the unit and integration tests only (no browser)
	$(BIN)/pytest tests

.PHONY: e2e
e2e: $(STAMP) browser ## Run the browser journeys
	$(BIN)/pytest e2e

.PHONY: lint
lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check .

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks and print their figures
	$(BIN)/python -m bench

.PHONY: clean
clean: ## Remove the virtual environment and caches (keeps instance/ data)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis e2e-artifacts
