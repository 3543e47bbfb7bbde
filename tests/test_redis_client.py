"""The Redis client parses answers in C (hiredis): every cache read, throttle count and token check.

redis-py falls back to its own parser in Python, silently, when hiredis is missing: a GET then
costs 49-54 instead of 38 µs of CPU (pyproject.toml). These tests fail if the dependency goes.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from redis._parsers import _HiredisParser


def test_hiredis_is_installed_so_redis_py_chooses_it():
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE


@pytest.mark.services
def test_the_caches_redis_connections_parse_with_hiredis():
    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client"):
        pytest.skip("Redis only (REDIS_URL)")
    redis = client.get_client(write=True)
    redis.ping()
    connection = redis.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, _HiredisParser)
    finally:
        redis.connection_pool.release(connection)
