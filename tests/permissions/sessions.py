"""Signing in the way a browser or an API client does, for the authorization tests.

Both helpers go through the real sign-in code, so the session carries everything the
session middleware checks (``auth_at``/``seen_at``), like a real one.
"""

from __future__ import annotations

import json

from django.test import Client

from tests.conftest import api_login, csrf_token, finish_page_login
from tests.factories import PASSWORD


def page_login(client: Client, user, password: str = PASSWORD) -> Client:
    """Sign in through the login page (POST /accounts/login/) and return the client."""
    response = client.post("/accounts/login/", {"email": user.email, "password": password})
    response = finish_page_login(client, user, response)
    assert response.status_code == 302, response.content
    return client


def page_client(user) -> Client:
    """A browser signed in through the login page."""
    return page_login(Client(), user)


def api_client(user) -> Client:
    """An API client signed in through POST /api/auth/login/."""
    return api_login(Client(), user)


def _token(client: Client) -> str:
    cookie = client.cookies.get("csrftoken")
    return cookie.value if cookie is not None and cookie.value else csrf_token(client)


def api_call(client: Client, method: str, path: str, data: dict | None = None):
    """Call the API with a JSON body and, for unsafe methods, the X-CSRFToken header."""
    if method in ("GET", "HEAD"):
        return client.generic(method, path)
    body = json.dumps(data) if data is not None else ""
    return client.generic(method, path, data=body, content_type="application/json", headers={"X-CSRFToken": _token(client)})


def api_post(client: Client, path: str, data: dict | None = None):
    return api_call(client, "POST", path, data if data is not None else {})
