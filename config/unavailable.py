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
