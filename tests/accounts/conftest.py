from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher


@pytest.fixture(autouse=True)
def _frozen_ratelimit_clock():
    """Freeze django-ratelimit's clock so a fixed window never rolls over mid-test."""
    now = time.time()
    frozen = SimpleNamespace(time=lambda: now)
    with mock.patch("django_ratelimit.core.time", frozen):
        yield


@pytest.fixture
def hash_spy():
    """Count password hashes computed with the test profile's hasher (MD5 first).

    Every hash the app computes in the test profile (set_password, check_password,
    the dummy hash for an unknown email) goes through ``MD5PasswordHasher.encode``.
    """
    with mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5PasswordHasher.encode) as spy:
        yield spy


@pytest.fixture
def audit_log(caplog):
    """Capture the 'audit' logger, which does not propagate to the root logger."""
    logger = logging.getLogger("audit")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="audit")
    yield caplog
    logger.removeHandler(caplog.handler)
