"""Recognising a backing service outage (database or cache), answered with 503, not 500."""

from __future__ import annotations

import socket

from django.db import InterfaceError, OperationalError

RETRY_AFTER_SECONDS = 5


def is_service_outage(exc: BaseException | None) -> bool:
    """True for errors that mean PostgreSQL or Redis is unreachable, not a bug in our code."""
    while exc is not None:
        if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, socket.timeout, TimeoutError)):
            return True
        module = type(exc).__module__
        if module.startswith(("redis.", "django_redis.")) and type(exc).__name__ in {
            "ConnectionError",
            "TimeoutError",
            "ConnectionInterrupted",
            "BusyLoadingError",
        }:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class OutageLogFilter:
    """Log a database or cache outage as one line, not a traceback per request.

    An outage is not a bug in our code: the stack of every request it fails tells nothing new,
    and would flood the log while it lasts.
    """

    def filter(self, record) -> bool:
        if record.exc_info and is_service_outage(record.exc_info[1]):
            record.msg = f"{record.getMessage()} (service unavailable: {type(record.exc_info[1]).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
