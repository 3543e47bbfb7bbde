from __future__ import annotations

import logging
import os

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, settings

from permissions import role_table
from tests.factories import PASSWORD

# Property tests (hypothesis) are deterministic in CI: the same examples on every run and
# machine (derandomize), a bounded number of them, no example database written into the
# work tree, no deadline (two shared cores would time out honest examples).
# HYPOTHESIS_PROFILE=explore runs them randomly and longer, for a person hunting bugs.
settings.register_profile(
    "ci",
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _clear_cache_now() -> None:
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # Redis: only this suite's prefixed keys, never the whole server
    else:
        cache.clear()
    # A test's role-table change is rolled back without a commit: this process must not keep it.
    role_table.forget_local()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached tokens live in the cache, role permissions in the process:
    every test starts with none."""
    _clear_cache_now()
    yield
    _clear_cache_now()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def csrf_client() -> Client:
    """A client that enforces CSRF like a browser's server would."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def request_log():
    """Capture the 'request' logger (it does not propagate to the root logger)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.INFO)
    logger = logging.getLogger("request")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
