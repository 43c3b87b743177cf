# The README's commands. `make run` = the demo on embedded defaults (the Procfile under
# honcho, scripts/run.sh); `make test` = everything CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench worker web sandbox clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	@bash scripts/run.sh

# Tests run against PostgreSQL and Redis (defaults below: the local services).
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-use-0123456789abcdef
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/platform_admin
test: export REDIS_URL ?= redis://127.0.0.1:6379/14
test: export HTTPS ?= off
test: export DEBUG = off
test: export NO_GCE_CHECK = true
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py check
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest
	DATABASE_URL=sqlite:///var/test-audit.sqlite3 $(PY) -m pytest tests/platform_admin/test_audit_chain.py -q -p no:randomly

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	@bash scripts/bench.sh

clean:
	rm -rf $(VENV) var staticfiles
