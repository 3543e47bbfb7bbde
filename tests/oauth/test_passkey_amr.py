"""ID tokens after a passkey sign-in: RFC 8176 ``hwk``, ``user`` when the authenticator
verified the user, and ``mfa`` (with ``acr``) for both the passwordless and the second-step use."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSKEY_ORIGIN, PASSWORD, customer, enrol_passkey
from tests.oauth.test_amr import id_token_for
from tests.support.clients import api_call, csrf_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _host_name_origin(settings):
    settings.PUBLIC_ORIGIN = PASSKEY_ORIGIN


def _options(client: Client, path: str) -> dict:
    response = api_call(client, "POST", path)
    assert response.status_code == 200, response.content
    return response.json()["publicKey"]


def test_a_passwordless_passkey_sign_in_is_amr_hwk_user_mfa(public_client):
    passkey = enrol_passkey(customer())
    browser = Client()
    csrf_token(browser)
    credential = passkey.authenticator.authenticate(_options(browser, "/api/auth/login/passkey/options/"))
    assert api_call(browser, "POST", "/api/auth/login/passkey/", {"credential": credential}).status_code == 200
    claims = id_token_for(browser, public_client.client_id)
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["acr"] == "mfa"


@pytest.mark.parametrize(("verified", "amr"), [(True, ["hwk", "pwd", "user", "mfa"]), (False, ["hwk", "pwd", "mfa"])])
def test_a_password_and_passkey_sign_in_is_amr_hwk_pwd_mfa(public_client, verified, amr):
    user = customer()
    passkey = enrol_passkey(user)
    browser = Client()
    csrf_token(browser)
    first = api_call(browser, "POST", "/api/auth/login/", {"email": user.email, "password": PASSWORD})
    assert first.json()["methods"] == ["passkey"]
    credential = passkey.authenticator.authenticate(
        _options(browser, "/api/auth/login/2fa/options/"), user_verified=verified
    )
    assert api_call(browser, "POST", "/api/auth/login/2fa/", {"passkey": credential}).status_code == 200
    assert id_token_for(browser, public_client.client_id)["amr"] == amr
