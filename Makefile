# jiaoying — every target sets up what it needs. Quick start: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The service on its embedded defaults: SQLite under var/, the example roster and policy,
# every channel in simulate mode. A local API token is made once, in var/dev-token.
run: $(STAMP) var/dev-token
	$(BIN)/jiaoying db upgrade
	JIAOYING_API_TOKENS="dev:$$(cat var/dev-token)" $(BIN)/jiaoying serve

var/dev-token:
	@mkdir -p var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(24))" > $@
	@chmod 600 $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict dispatcher channels

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
