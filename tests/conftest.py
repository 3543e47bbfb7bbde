from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, settings

from permissions import role_table
from tests.factories import PASSWORD, fresh_totp_code

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


def api_login(client: Client, user, password: str = PASSWORD) -> Client:
    """Sign in through the JSON API (CSRF included) and return the client."""
    token = client.get("/api/auth/csrf/").json()["csrfToken"]
    response = client.post(
        "/api/auth/login/",
        {"email": user.email, "password": password},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.content
    if response.json()["status"] == "mfa_required":
        response = client.post(
            "/api/auth/login/2fa/",
            {"code": fresh_totp_code(user)},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 200, response.content
    return client


def finish_page_login(client: Client, user, response):
    """After the login form: answer the second step when the account has one."""
    if response.status_code == 302 and response["Location"].startswith("/accounts/login/2fa/"):
        response = client.post(response["Location"], {"code": fresh_totp_code(user)})
    return response


def csrf_token(client: Client) -> str:
    return client.get("/api/auth/csrf/").json()["csrfToken"]
