# One front door. `make run` brings the platform up; `make test` is what CI runs.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: install run run-postgres test test-unit test-faults lint schema bench validate-k8s soak clean infra-stop

NODE_STAMP := services/portal/node_modules/.package-lock.json

install: $(STAMP) $(NODE_STAMP)
$(NODE_STAMP): services/portal/package-lock.json  ## the portal's ECharts, from the npm registry
	cd services/portal && npm ci --no-audit --no-fund
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: install  ## broker + five services + demo city on embedded SQLite; Ctrl-C stops
	$(PY) -m govctl run

run-postgres: install
	$(PY) -m govctl run --postgres

test: install  ## every tier; the fault suite in a session (and a platform) of its own
	$(PY) -m pytest -q -ra -m "not faults"
	$(PY) -m pytest -q -ra -m faults tests/faults

test-faults: install  ## the fault-injection suite alone, with its figures
	$(PY) -m pytest -q -ra -m faults tests/faults

test-unit: install
	$(PY) -m pytest -q -m "not e2e and not faults" tests/unit

lint: install
	.venv/bin/ruff check .
	.venv/bin/mypy services shared govctl bench

schema: install  ## JSON Schema of every event + the AsyncAPI document, from the code
	$(PY) -m shared.events schema docs/events/schema
	.venv/bin/faststream docs gen shared.events.asyncapi:app -o docs/events/asyncapi.json

bench: install  ## benchmarks beside baselines -> bench/results/latest.json
	$(PY) -m bench

validate-k8s: install  ## render deploy/k8s (base, dev, prod) with kustomize; validate offline
	$(PY) -m deploy.k8s.validate

soak: install  ## ten minutes of steady load: throughput and memory over time (not in CI)
	$(PY) -m bench.soak

infra-stop:
	bash deploy/local/kafka.sh stop
	bash deploy/local/postgres.sh stop

clean: infra-stop
	bash deploy/local/kafka.sh clean
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
