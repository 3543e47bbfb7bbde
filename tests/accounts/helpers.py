"""Small helpers shared by the account tests: sign in by page or API, read the session."""

from __future__ import annotations

from django.conf import settings
from django.test import Client

from tests.factories import PASSWORD

LOGIN_PAGE = "/accounts/login/"
LOGIN_API = "/api/auth/login/"
ME_API = "/api/me/"
INVALID_CREDENTIALS_BODY = {
    "status": "error",
    "code": "INVALID_CREDENTIALS",
    "message": "Invalid email or password",
}


def api_login_response(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post(LOGIN_API, {"email": email, "password": password}, content_type="application/json", **extra)


def session_cookie(client: Client) -> str:
    """The session id the browser holds now ('' when it has none)."""
    morsel = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else ""


def client_with_session(session_key: str, **defaults) -> Client:
    """A fresh browser that replays a given session cookie."""
    client = Client(**defaults)
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return client


def is_signed_in(client: Client) -> bool:
    response = client.get(ME_API)
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200


def register_data(**overrides) -> dict:
    password = overrides.pop("password", "quiet meadow under winter stars")
    data = {
        "email": "new.person@example.com",
        "name": "New Person",
        "region": "EU",
        "password1": password,
        "password2": password,
    }
    data.update(overrides)
    return data
