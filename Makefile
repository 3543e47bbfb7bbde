# The project's commands. Only python3 (>= 3.11) and make are needed; everything else
# is installed into .venv from requirements.lock.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements.lock | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

export HOST PORT

.PHONY: run test install lock clean

$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## make run: the embedded default (SQLite, in-process cache) on http://$(HOST):$(PORT)
run: $(STAMP)
	DJANGO_ENV=local $(BIN)/python manage.py migrate --noinput
	DJANGO_ENV=local $(BIN)/python manage.py seed_demo
	DJANGO_ENV=local $(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: the whole suite on the embedded default; no service needed
test: $(STAMP)
	DJANGO_ENV=test DATABASE_URL= REDIS_URL= $(BIN)/python -m pytest $(PYTEST_ARGS)

## make lock: re-pin every dependency after changing pyproject.toml
lock:
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet --disable-pip-version-check ".[test]"
	/tmp/lock-venv/bin/pip freeze --exclude-editable | grep -v '^django-auth-done-right' > requirements.lock

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
