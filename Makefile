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

.PHONY: run lint test test-services test-e2e screenshots bench serve install lock clean

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

## make lint: ruff (lint and import order) and mypy with django-stubs; settings as in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check .
	DJANGO_ENV=test DATABASE_URL= REDIS_URL= $(BIN)/mypy

## make test: the whole suite on the embedded default; no service needed
test: $(STAMP)
	DJANGO_ENV=test DATABASE_URL= REDIS_URL= $(BIN)/python -m pytest -m "not services and not e2e" $(PYTEST_ARGS)

## make test-services: the same suite on PostgreSQL and Redis (the production profile's services)
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/0
test-services: $(STAMP)
	DJANGO_ENV=test DATABASE_URL=$(DATABASE_URL) REDIS_URL=$(REDIS_URL) $(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

## make test-e2e: the browser tests (the site and the example app on loopback, Debian's chromium);
## their screenshots go to SCREENSHOT_DIR, var/screenshots/ (ignored by git) unless set
SCREENSHOT_DIR ?= var/screenshots
test-e2e: $(STAMP)
	@test -x /usr/bin/chromium || { echo "make test-e2e needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
	DJANGO_ENV=test DATABASE_URL= REDIS_URL= SCREENSHOT_DIR=$(SCREENSHOT_DIR) $(BIN)/python -m pytest tests/e2e -m e2e -p no:cacheprovider $(PYTEST_ARGS)

## make screenshots: regenerate docs/screenshots/ (the browser tests, every journey saving its own);
## the only command that writes tracked files
screenshots:
	$(MAKE) test-e2e SCREENSHOT_DIR=docs/screenshots

## make bench: the benchmark suite (PostgreSQL and Redis on loopback, Debian's wrk); see bench/README.md
BENCH_ARGS ?=
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 2; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## make serve: the production profile under gunicorn (env: see README "Deploying")
WEB_CONCURRENCY ?= 4
serve: $(STAMP)
	DJANGO_ENV=production $(BIN)/python manage.py check --deploy --fail-level WARNING
	DJANGO_ENV=production $(BIN)/python manage.py migrate --noinput
	DJANGO_ENV=production $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	DJANGO_ENV=production WEB_CONCURRENCY=$(WEB_CONCURRENCY) $(BIN)/gunicorn config.wsgi:application \
		--config config/gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY) --access-logfile - \
		--forwarded-allow-ips "$${FORWARDED_ALLOW_IPS:-$$(if [ "$${TRUSTED_PROXY_COUNT:-0}" = 0 ]; then echo; else echo 127.0.0.1; fi)}" \
		$${TLS_CERT_FILE:+--certfile "$$TLS_CERT_FILE"} $${TLS_KEY_FILE:+--keyfile "$$TLS_KEY_FILE"}

## make lock: re-pin every dependency after changing pyproject.toml
lock:
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + [d for ds in p['optional-dependencies'].values() for d in ds]))" > /tmp/lock-requirements.txt
	/tmp/lock-venv/bin/pip install --quiet --disable-pip-version-check -r /tmp/lock-requirements.txt
	/tmp/lock-venv/bin/pip freeze > requirements.lock

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
