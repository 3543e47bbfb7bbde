"""Django test clients signed in through the JSON API, and calls the way an API client makes them.

``api_login`` goes through the real sign-in code, so the session carries everything the
session middleware checks (``auth_at``/``seen_at``), like a real one.
"""

from __future__ import annotations

import json

from django.test import Client

from tests.factories import PASSWORD, fresh_totp_code


def csrf_token(client: Client) -> str:
    return client.get("/api/auth/csrf/").json()["csrfToken"]


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
    return client.generic(
        method, path, data=body, content_type="application/json", headers={"X-CSRFToken": _token(client)}
    )


def api_post(client: Client, path: str, data: dict | None = None):
    return api_call(client, "POST", path, data if data is not None else {})


def error(response, status: int, code: str) -> dict:
    """Assert an API error in the contract's envelope (status, code, a message) and return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error" and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body
