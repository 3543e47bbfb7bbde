"""The token, introspection and revocation endpoints never read or write a session.

They authenticate a client, never a browser (``SESSIONLESS_PATHS``,
``core.middleware.SessionMiddleware``): a browser's session cookie sent along costs no read of
the session table, and the answer neither refreshes the cookie nor varies on it. The same
cookie on a page still loads the session (so the check below can fail).
"""

from __future__ import annotations

import base64

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.oauth import INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH, form_post, mint_token

pytestmark = pytest.mark.django_db

SESSION_TABLE = Session._meta.db_table


def basic(registered) -> dict[str, str]:
    credentials = base64.b64encode(f"{registered.client_id}:{registered.client_secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def session_statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if SESSION_TABLE in q["sql"]]


def test_the_oauth_endpoints_are_the_sessionless_paths():
    assert set(settings.SESSIONLESS_PATHS) == {TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH}


@pytest.mark.parametrize("path", [TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH])
def test_a_session_cookie_sent_to_an_oauth_endpoint_is_never_read(browser, path, service_client, resource_server,
                                                                  alice, public_client):
    token = mint_token(alice, public_client.application, "openid orders:read")
    data, client = {
        TOKEN_PATH: ({"grant_type": "client_credentials", "scope": "orders:read"}, service_client),
        INTROSPECT_PATH: ({"token": token}, resource_server),
        REVOKE_PATH: ({"token": token}, service_client),
    }[path]
    with CaptureQueriesContext(connection) as captured:
        response = form_post(browser, path, data, **basic(client))

    assert response.status_code == 200, response.content
    assert session_statements(captured) == []
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_the_same_cookie_on_a_page_loads_the_session(browser):
    with CaptureQueriesContext(connection) as captured:
        response = browser.get("/accounts/profile/")
    assert response.status_code == 200
    assert session_statements(captured), "the page did not read the session: the check above proves nothing"
