"""Signing in the way a browser does: through the login page, the real sign-in code."""

from __future__ import annotations

from django.test import Client

from tests.factories import PASSWORD, fresh_totp_code

LOGIN_PAGE = "/accounts/login/"


def page_login(client: Client, email: str, password: str = PASSWORD, **data):
    """POST the login form (extra form fields such as ``next`` as keywords); return the response."""
    return client.post(LOGIN_PAGE, {"email": email, "password": password, **data})


def finish_page_login(client: Client, user, response):
    """After the login form: answer the second step when the account has one."""
    if response.status_code == 302 and response["Location"].startswith("/accounts/login/2fa/"):
        response = client.post(response["Location"], {"code": fresh_totp_code(user)})
    return response


def page_client(user, password: str = PASSWORD) -> Client:
    """A browser signed in through the login page (and its second step, when the account has one)."""
    client = Client()
    response = finish_page_login(client, user, page_login(client, user.email, password))
    assert response.status_code == 302, response.content
    return client
