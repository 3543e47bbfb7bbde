"""ID tokens say how the user authenticated (RFC 8176 ``amr``, ``acr``); ``acr_values=mfa``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from oauth.validators import rfc8176_amr
from tests.factories import customer, enrol_totp, fresh_totp_code
from tests.oauth.test_prompt import id_token_claims
from tests.support.oauth import (
    AUTHORIZE_PATH,
    approve_on,
    authorize_on,
    authorize_url,
    code_from,
    exchange_code,
    location,
    query,
)
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db


def id_token_for(browser: Client, client_id: str, **params) -> dict:
    response, request = authorize_on(browser, client_id, **params)
    tokens = exchange_code(Client(), client_id, code_from(response, request), request).json()
    return id_token_claims(browser, tokens["id_token"])


def test_a_password_sign_in_is_amr_pwd_without_acr(public_client):
    claims = id_token_for(page_client(customer()), public_client.client_id)
    assert claims["amr"] == ["pwd"]
    assert "acr" not in claims


def test_a_sign_in_with_two_factors_is_amr_otp_pwd_mfa_and_acr_mfa(public_client):
    claims = id_token_for(page_client(enrol_totp(customer())), public_client.client_id)
    assert claims["amr"] == ["otp", "pwd", "mfa"]
    assert claims["acr"] == "mfa"


def test_refreshed_id_tokens_keep_the_amr(public_client):
    browser = page_client(enrol_totp(customer()))
    response, request = authorize_on(browser, public_client.client_id)
    tokens = exchange_code(Client(), public_client.client_id, code_from(response, request), request).json()
    refreshed = Client().post("/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                            "client_id": public_client.client_id}).json()
    assert id_token_claims(browser, refreshed["id_token"])["amr"] == ["otp", "pwd", "mfa"]


@pytest.mark.parametrize(("methods", "amr"), [
    (["pwd"], ["pwd"]), (["pwd", "totp"], ["otp", "pwd", "mfa"]), (["pwd", "recovery_code"], ["otp", "pwd", "mfa"]),
    (["unknown"], []), ([], []),
])
def test_session_methods_map_to_rfc_8176_values(methods, amr):
    assert rfc8176_amr(methods) == amr


def test_acr_values_mfa_sends_a_one_factor_session_to_sign_in_again(public_client):
    user = customer()
    browser = page_client(user)  # signed in with the password alone
    enrol_totp(user)  # ... and now has a second factor
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, acr_values="mfa")
    response = browser.get(request.url)
    assert response.status_code == 302
    assert urlsplit(location(response)).path == "/accounts/login/"
    next_url = query(location(response))["next"]
    browser.post("/accounts/login/", {"email": user.email, "password": "a long test passphrase 42", "next": next_url})
    browser.post("/accounts/login/2fa/", {"code": fresh_totp_code(user), "next": next_url})
    response = browser.get(next_url)
    if response.status_code == 200:  # the consent page, first time
        response = approve_on(browser, response)
    tokens = exchange_code(Client(), public_client.client_id, code_from(response, request), request).json()
    assert id_token_claims(browser, tokens["id_token"])["acr"] == "mfa"


def test_acr_values_mfa_with_a_two_factor_session_asks_nothing_more(public_client):
    claims = id_token_for(page_client(enrol_totp(customer())), public_client.client_id, acr_values="mfa")
    assert claims["acr"] == "mfa"
