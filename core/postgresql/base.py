"""Django's PostgreSQL backend: batches that fit PostgreSQL's limit on bound parameters, and a
health check that costs no round trip on a connection in steady use.

``config/settings.py`` has PostgreSQL bind each statement's parameters itself
(``server_side_binding``), and one statement then carries at most 65,535 of them (the
protocol counts them in 16 bits; psycopg refuses more before sending). Django 5.2 splits a
bulk insert, and the look-ups of related rows a delete makes, by ``bulk_batch_size``, which on
PostgreSQL is unlimited: deleting a client with more than 65,535 access tokens would send one
``... WHERE "access_token_id" IN (...)`` with a parameter per token, and fail. Here a batch
holds at most as many rows as fit. With client-side binding the values are written into the
text and Django's own batches stay.

**The health check** (``conn_health_checks``, on in config/settings.py). Django checks a
persistent connection before each request's first statement by sending ``SELECT 1``: one more
round trip on every request that touches the database, 0.13-0.16 ms of a worker's CPU and
more of its wall time (bench/README.md). What that check finds in practice is a connection the
other side has closed: PostgreSQL restarted, the backend terminated (``pg_terminate_backend``,
``idle_session_timeout``), a proxy or pooler in between gone. Each of those leaves the socket
readable (PostgreSQL's ``FATAL`` message, or the end of the stream), and an idle connection's
socket has nothing else to read: libpq has consumed the last answer. So a connection that is
idle, was used less than ``QUIET_SECONDS`` ago, and whose socket has nothing to read is taken
as usable, as urllib3 decides for a kept-alive HTTP connection (``is_connection_dropped``)
and go-sql-driver/mysql before reusing one. Anything else gets Django's ``SELECT 1``: a socket
with something to read (which may also be a harmless notice), a connection not idle, one unused
for longer (a firewall or NAT may drop an idle flow without a word, and only a round trip
finds that), or a socket that cannot be read.
"""

from __future__ import annotations

import time
from select import POLLIN, POLLPRI, poll

from django.db.backends.postgresql import base, operations
from psycopg import pq

MAX_BOUND_PARAMETERS = 65535
# A connection used at least this often is checked without a round trip.
QUIET_SECONDS = 1.0


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        size = super().bulk_batch_size(fields, objs)
        if fields and self.connection.features.uses_server_side_binding:
            return min(size, max(MAX_BOUND_PARAMETERS // len(fields), 1))
        return size


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _used_at = float("-inf")  # monotonic time of the connection's last cursor
    health_check_enabled: bool  # Django's, set per connection (unknown to django-stubs)
    health_check_done: bool

    def connect(self):
        super().connect()
        self._used_at = time.monotonic()  # a new connection has just answered

    def close_if_health_check_failed(self):
        """Django calls it before every cursor and checks once per request (``health_check_done``)."""
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._quietly_usable()
        ):
            self.health_check_done = True
        else:
            super().close_if_health_check_failed()
        self._used_at = time.monotonic()

    def _quietly_usable(self) -> bool:
        """Usable without asking the server (see the module's docstring); False means ask."""
        if time.monotonic() - self._used_at > QUIET_SECONDS:
            return False
        try:
            if self.connection.info.transaction_status != pq.TransactionStatus.IDLE:
                return False
            poller = poll()
            poller.register(self.connection.pgconn.socket, POLLIN | POLLPRI)
            return not poller.poll(0)  # any event (data, the stream's end, an error) means ask
        except Exception:  # noqa: BLE001 - a connection that cannot say is checked the usual way
            return False
