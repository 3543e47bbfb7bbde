"""``make run``'s development server writes no query string, path secret or Referer.

The server is started as ``make run`` starts it (the local profile, runserver), on a free
loopback port, with its own var directory holding a copy of this run's migrated test
database (migrating a new one would take longer than the test).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.support.server_logs import assert_no_secret, fetch, secret_requests
from tests.support.servers import LOOPBACK, PYTHON, _manage, _spawn, clean_environment, free_port, wait_until_up


@pytest.fixture
def migrated_var_dir(tmp_path: Path, django_db_setup, django_db_blocker) -> Path:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    with django_db_blocker.unblock():
        engine, name = connection.vendor, connection.settings_dict["NAME"]
    if engine == "sqlite":
        with sqlite3.connect(name) as source, sqlite3.connect(var_dir / "db.sqlite3") as copy:
            source.backup(copy)
    else:  # make test-services: the test database is PostgreSQL's; migrate a SQLite one
        env = clean_environment(
            DJANGO_ENV="local", DJANGO_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings"
        )
        _manage(var_dir, env, var_dir / "migrate.log", "migrate", "--noinput")
    yield var_dir
    shutil.rmtree(var_dir, ignore_errors=True)


EXPECTED_LINES = (
    '"GET /accounts/password/reset/<uidb64>/<token>/ HTTP/1.1" 200',
    '"GET /api/orders/ HTTP/1.1" 401',
    '"GET (no route) HTTP/1.1" 404',
)


def _log_once_it_holds(log_path: Path, lines: tuple[str, ...], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace")
        if all(line in text for line in lines) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def test_the_development_server_logs_routes_never_a_query_string_or_a_path_secret(migrated_var_dir):
    port = free_port()
    env = clean_environment(
        DJANGO_ENV="local", DJANGO_VAR_DIR=str(migrated_var_dir), HOST=LOOPBACK, PORT=str(port),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    origin = f"http://{LOOPBACK}:{port}"
    log_path = migrated_var_dir / "server.log"
    server = _spawn(
        "runserver", origin, [PYTHON, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"], env, log_path
    )
    try:
        wait_until_up(server, f"{origin}/healthz/")
        requests, found = secret_requests()
        statuses = [fetch(origin + path, headers) for path, headers in requests]
        assert statuses[3] == 200 and statuses[-1] == 404, statuses  # the reset page answered; nothing routed
        # runserver writes a request's line after answering it, from that request's own thread:
        # wait for the lines rather than trusting the order in which the threads finish.
        _log_once_it_holds(log_path, EXPECTED_LINES)
    finally:
        server.stop()
    text = log_path.read_text(errors="replace")
    # The development server's request lines and the request log are there, naming routes...
    for line in EXPECTED_LINES:
        assert line in text, text[-3000:]
    assert '"path": "/accounts/email/confirm/<str:token>/"' in text, text[-3000:]
    # ...and nothing any client put in a query string, a path or a Referer.
    assert_no_secret(text, found)
