"""Counting round trips to Redis, and a cache of a test's own on the real Redis.

Every command redis-py sends goes through ``send_packed_command`` once: a command, a script or a
whole pipeline is one round trip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.core.cache import cache
from django.test import override_settings


class RoundTrips:
    """Counts the commands sent to Redis: one per round trip (a pipeline or script is one)."""

    def __init__(self) -> None:
        self.sent = 0

    def __enter__(self) -> RoundTrips:
        import redis.connection

        original = redis.connection.AbstractConnection.send_packed_command

        def send(connection, command, check_health=True):
            self.sent += 1
            return original(connection, command, check_health)

        self._patch = mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", send)
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._patch.stop()


@contextmanager
def own_redis_cache(name: str) -> Iterator[None]:
    """The default cache is django-redis on the real Redis (``REDIS_URL``), under a prefix of
    its own (removed afterwards), whichever profile runs."""
    prefix = f"{name}-{secrets.token_hex(6)}"
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": prefix,
        }
    }
    with override_settings(CACHES=caches):
        try:
            yield
        finally:
            cache.delete_pattern("*")
