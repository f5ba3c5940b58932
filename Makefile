# jiaoying — every target sets up what it needs. Quick start: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit browser bench clean lock \
	test-core test-channels test-engine test-integration test-reliability test-browser

# Everything a developer runs comes from the lock file (exact versions the tests passed
# with), then the project itself without resolving again. A fresh machine needs only
# python3 with venv and pip; `make lock` renews the locks after pyproject.toml changes.
LOCK := requirements/dev.lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

# runtime.lock: what the image installs; dev.lock: that plus the test and bench extras,
# the runtime pins kept as they are.
PIP_COMPILE := $(BIN)/pip-compile -q --strip-extras --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip-tools>=7.4,<8"
	$(PIP_COMPILE) --upgrade -o requirements/runtime.lock pyproject.toml
	$(PIP_COMPILE) --upgrade --extra test --extra bench -c requirements/runtime.lock \
		-o requirements/dev.lock pyproject.toml

# The service on its embedded defaults: SQLite under var/ (serve creates or upgrades its
# schema), the example roster and policy, every channel in simulate mode. A local API
# token is made once, in var/dev-token.
run: $(STAMP) var/dev-token
	JIAOYING_API_TOKENS="dev:$$(cat var/dev-token)" $(BIN)/jiaoying serve

var/dev-token:
	@mkdir -p var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(24))" > $@
	@chmod 600 $@

# The layer contract (pyproject.toml, [tool.importlinter]) is checked with the style.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict dispatcher channels tests bench

# The dashboard's browser tests drive Debian's Chromium (Playwright never downloads a
# browser here); a CJK font makes their screenshots readable. Installed when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

browser:
	@if [ ! -x $(CHROMIUM) ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		echo "installing Debian's chromium and a CJK font for the dashboard's browser tests"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-zenhei; \
	fi

unit: $(STAMP) browser
	$(BIN)/pytest

test: lint typecheck unit

# One tier at a time (README, "Tests"). test-core is the fast one: the pure core with
# fewer hypothesis examples (the `dev` profile), no service started.
test-core: $(STAMP)
	$(BIN)/pytest -q tests/core --hypothesis-profile=dev
test-channels: $(STAMP)
	$(BIN)/pytest -q tests/channels
test-engine: $(STAMP)
	$(BIN)/pytest -q tests/engine
test-integration: $(STAMP)
	$(BIN)/pytest -q tests/integration
test-reliability: $(STAMP)
	$(BIN)/pytest -q tests/reliability
test-browser: $(STAMP) browser
	$(BIN)/pytest -q tests/browser

# The benchmark, not part of `make test`: the real service against a Twilio stand-in, every
# figure a ratio to a bare client in the same run (README, "Benchmark"). About 25 minutes;
# `make bench QUICK=1` about a minute, its results in var/bench-quick/. The RabbitMQ scenario
# runs in a vhost of its own, made here where rabbitmqctl can: the tests reset the default
# vhost's queues, which would cut into a benchmark running meanwhile.
BENCH_VHOST := jiaoying-bench

bench: $(STAMP)
	@if command -v rabbitmqctl >/dev/null 2>&1 && ! rabbitmqctl -q list_vhosts | grep -qx $(BENCH_VHOST); then \
		rabbitmqctl -q add_vhost $(BENCH_VHOST) && \
		rabbitmqctl -q set_permissions -p $(BENCH_VHOST) guest '.*' '.*' '.*'; fi
	$(BIN)/python -m bench $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
