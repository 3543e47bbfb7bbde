"""The persistent connection's health check without a round trip (core/postgresql/base.py).

Each test drives one connection of its own through what Django does around a request: at its
start ``close_if_unusable_or_obsolete`` (which asks for a new health check), then, before the
request's first statement, ``close_if_health_check_failed``. ``SELECT 1`` is Django's
``is_usable``; the tests count its calls.
"""

from __future__ import annotations

import select
import time

import pytest
from django.db import connection

from core.postgresql import base

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture
def db():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    settings = {**connection.settings_dict, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
    own = base.DatabaseWrapper(settings, alias="health_check")
    own.ensure_connection()
    yield own
    own.close()


@pytest.fixture
def round_trips(db, monkeypatch):
    """The ``SELECT 1`` checks ``db`` sends, as a list of their answers."""
    answers: list[bool] = []
    ask = db.is_usable

    def counted() -> bool:
        answers.append(ask())
        return answers[-1]

    monkeypatch.setattr(db, "is_usable", counted)
    return answers


def next_request(db) -> None:
    db.close_if_unusable_or_obsolete()
    db.close_if_health_check_failed()


def backend_pid(db) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_connection_in_steady_use_is_checked_without_a_round_trip(db, round_trips):
    pid = backend_pid(db)
    for _ in range(3):
        next_request(db)
        assert db.health_check_done
        assert backend_pid(db) == pid  # the same connection, and it answers
    assert round_trips == []


def test_a_backend_terminated_between_requests_is_replaced_before_the_next_request_uses_it(db, round_trips):
    pid = backend_pid(db)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone() == (True,)
    # PostgreSQL's FATAL message and the end of the stream reach the socket.
    poller = select.poll()
    poller.register(db.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(5000)

    next_request(db)

    assert round_trips == [False]  # the readable socket sent it to SELECT 1, which failed
    assert db.connection is None  # closed, so the request's first statement connects anew
    assert backend_pid(db) != pid


def test_a_connection_unused_for_longer_than_the_quiet_time_asks_the_server(db, round_trips):
    backend_pid(db)
    db._used_at = time.monotonic() - base.QUIET_SECONDS - 0.5  # as if last used that long ago
    next_request(db)
    assert round_trips == [True]  # a silently dropped flow shows only to a round trip
    next_request(db)
    assert round_trips == [True]  # and from then on it counts as in use again


def test_a_connection_left_inside_a_transaction_asks_the_server(db, round_trips):
    db.connection.execute("BEGIN")  # psycopg's own connection, behind Django's back
    next_request(db)
    assert round_trips == [True]
    db.connection.execute("ROLLBACK")


def test_a_connection_whose_socket_cannot_be_read_asks_the_server(db, round_trips, monkeypatch):
    def no_poll():
        raise OSError("no poll here")

    monkeypatch.setattr(base, "poll", no_poll)
    next_request(db)
    assert round_trips == [True]


def test_with_health_checks_off_nothing_is_checked(db, round_trips):
    db.health_check_enabled = False
    db.close_if_unusable_or_obsolete()
    db.health_check_enabled = False  # reset from the settings by a new connection only
    db.close_if_health_check_failed()
    assert round_trips == []
    assert not db.health_check_done
