"""Signing in the way a browser does: through the login page, the real sign-in code."""

from __future__ import annotations

from django.test import Client

from tests.factories import PASSWORD

LOGIN_PAGE = "/accounts/login/"


def page_login(client: Client, email: str, password: str = PASSWORD, **data):
    """POST the login form (extra form fields such as ``next`` as keywords); return the response."""
    return client.post(LOGIN_PAGE, {"email": email, "password": password, **data})


def page_client(user, password: str = PASSWORD) -> Client:
    """A browser signed in through the login page."""
    client = Client()
    response = page_login(client, user.email, password)
    assert response.status_code == 302, response.content
    return client
