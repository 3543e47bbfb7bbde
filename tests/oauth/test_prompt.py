"""OpenID Connect ``prompt`` and ``max_age`` at the authorization endpoint, and ``auth_time``."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts import sessions
from tests.factories import PASSWORD
from tests.support.oauth import (
    AUTHORIZE_PATH,
    REDIRECT_URI,
    authorize_on,
    authorize_url,
    code_from,
    csrf_from,
    exchange_code,
    location,
    query,
)
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db


def assert_client_error(response, request, error: str, issuer: str) -> None:
    assert response.status_code == 302, response.status_code
    assert location(response).startswith(REDIRECT_URI + "?"), location(response)
    params = query(location(response))
    assert params["error"] == error
    assert params["state"] == request.state
    assert params["iss"] == issuer
    assert "code" not in params


def assert_sent_to_sign_in_again(response, request) -> str:
    """A redirect to the login page with reauth=1 and a next that leads back without prompt/max_age loops."""
    assert response.status_code == 302
    target = urlsplit(location(response))
    assert target.path == "/accounts/login/"
    params = query(location(response))
    assert params["reauth"] == "1"
    next_url = params["next"]
    assert next_url.startswith(AUTHORIZE_PATH)
    assert "prompt" not in query(next_url)
    assert query(next_url)["state"] == request.state
    return next_url


def age_session(client: Client, seconds: int) -> None:
    """Pretend this browser signed in ``seconds`` ago."""
    session = client.session
    session[sessions.AUTH_AT] = time.time() - seconds
    session.save()


def id_token_claims(client: Client, id_token: str) -> dict:
    jwks = client.get("/o/.well-known/jwks.json").json()
    return jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims


# --- prompt=none ---------------------------------------------------------------------------------------


def test_prompt_none_without_a_session_is_login_required(public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none")

    assert_client_error(Client().get(request.url), request, "login_required", issuer)


def test_prompt_none_without_a_session_never_redirects_to_an_unregistered_uri(public_client):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none", redirect_uri="https://evil.example/cb")

    response = Client().get(request.url)

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_prompt_none_with_a_session_but_no_consent_is_consent_required(browser, public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none")

    assert_client_error(browser.get(request.url), request, "consent_required", issuer)


def test_prompt_none_with_a_session_and_consent_gives_a_code_without_a_page(browser, public_client, issuer):
    authorize_on(browser, public_client.client_id)
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none")

    response = browser.get(request.url)

    assert code_from(response, request)
    assert query(location(response))["iss"] == issuer


def test_prompt_none_with_a_session_and_a_new_scope_is_consent_required(browser, public_client, issuer):
    authorize_on(browser, public_client.client_id, scope="openid")
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none", scope="openid orders:read")

    assert_client_error(browser.get(request.url), request, "consent_required", issuer)


def test_prompt_none_combined_with_another_value_is_invalid_request(browser, public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none login")

    assert_client_error(browser.get(request.url), request, "invalid_request", issuer)


# --- prompt=login and max_age -------------------------------------------------------------------------


def test_prompt_login_with_a_session_sends_the_user_to_sign_in_again(browser, alice, public_client):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="login")

    response = browser.get(request.url)

    next_url = assert_sent_to_sign_in_again(response, request)
    login_page = browser.get(location(response))
    assert login_page.status_code == 200  # the form, although signed in
    assert b'name="password"' in login_page.content
    # Signing in again leads back to the authorization, which now goes on.
    signed_in = browser.post(
        "/accounts/login/", {"email": alice.email, "password": "a long test passphrase 42", "next": next_url}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == next_url
    assert "authorizationForm" in browser.get(next_url).content.decode()


def test_the_login_page_without_reauth_sends_a_signed_in_user_on(browser):
    response = browser.get("/accounts/login/?next=/accounts/apps/")

    assert response.status_code == 302 and response["Location"] == "/accounts/apps/"


def test_max_age_zero_behaves_like_prompt_login(browser, public_client):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="0")

    response = browser.get(request.url)

    next_url = assert_sent_to_sign_in_again(response, request)
    assert "max_age" not in query(next_url)  # the sign-in that follows is the fresh one asked for


def sign_in_again(browser: Client, user, next_url: str) -> float:
    """Answer the login page the authorization sent the browser to; return when it started."""
    login_page = browser.get(f"/accounts/login/?{urlencode({'reauth': '1', 'next': next_url})}")
    assert login_page.status_code == 200 and b'name="password"' in login_page.content
    before = time.time()
    signed_in = browser.post("/accounts/login/", {"csrfmiddlewaretoken": csrf_from(login_page.content.decode()),
                                                  "email": user.email, "password": PASSWORD, "next": next_url})
    assert signed_in.status_code == 302 and signed_in["Location"] == next_url
    return before


def test_max_age_zero_asks_for_one_fresh_sign_in_then_issues_the_code(alice, public_client):
    """No loop: after the fresh sign-in the way back issues the code, with that sign-in's auth_time."""
    browser = page_client(alice)
    authorize_on(browser, public_client.client_id)  # consent remembered: the code comes without a page
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="0")
    next_url = assert_sent_to_sign_in_again(browser.get(request.url), request)

    before = sign_in_again(browser, alice, next_url)
    response = browser.get(next_url)

    code = code_from(response, request)  # not another trip to the login page
    tokens = exchange_code(Client(), public_client.client_id, code, request).json()
    assert id_token_claims(browser, tokens["id_token"])["auth_time"] >= int(before) - 1


@pytest.mark.parametrize("max_age", ["abc", "-1", "1.5", "", " 60", "\u00b2", "\u0661", "9" * 5000])
def test_an_invalid_max_age_is_invalid_request_sent_back_to_the_client(browser, public_client, issuer, max_age):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age=max_age)

    assert_client_error(browser.get(request.url), request, "invalid_request", issuer)


def test_an_invalid_max_age_is_refused_before_an_anonymous_browser_is_asked_to_sign_in(public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="soon")

    assert_client_error(Client().get(request.url), request, "invalid_request", issuer)


def test_an_invalid_max_age_with_an_unregistered_redirect_uri_never_redirects(browser, public_client):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="abc", redirect_uri="https://evil.example/cb")

    response = browser.get(request.url)

    assert response.status_code == 400 and "Location" not in response.headers


def test_max_age_older_than_the_sign_in_asks_to_sign_in_again(browser, public_client):
    age_session(browser, 7200)
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="3600")

    assert_sent_to_sign_in_again(browser.get(request.url), request)


def test_max_age_within_the_sign_in_goes_on(browser, public_client):
    age_session(browser, 600)
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="3600")

    response = browser.get(request.url)

    assert response.status_code == 200 and b"authorizationForm" in response.content


def test_prompt_none_with_an_expired_max_age_is_login_required(browser, public_client, issuer):
    authorize_on(browser, public_client.client_id)
    age_session(browser, 7200)
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, prompt="none", max_age="3600")

    assert_client_error(browser.get(request.url), request, "login_required", issuer)


def test_after_signing_in_again_auth_time_is_the_new_sign_in(alice, public_client):
    browser = page_client(alice)
    authorize_on(browser, public_client.client_id)
    age_session(browser, 7200)
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, max_age="3600")
    next_url = assert_sent_to_sign_in_again(browser.get(request.url), request)

    login_page = browser.get(f"/accounts/login/?reauth=1&next={next_url}")
    before = time.time()
    browser.post(
        "/accounts/login/",
        {
            "csrfmiddlewaretoken": csrf_from(login_page.content.decode()),
            "email": alice.email,
            "password": "a long test passphrase 42",
            "next": next_url,
        },
    )
    response = browser.get(next_url)
    code = code_from(response, request)
    tokens = exchange_code(Client(), public_client.client_id, code, request).json()

    claims = id_token_claims(browser, tokens["id_token"])
    assert claims["auth_time"] >= int(before) - 1
    assert claims["auth_time"] <= time.time() + 1


def test_auth_time_is_when_this_session_signed_in_not_the_last_login(alice, public_client):
    browser = page_client(alice)
    age_session(browser, 5000)
    signed_in_at = browser.session[sessions.AUTH_AT]
    page_client(alice)  # a later sign-in elsewhere moves user.last_login
    alice.refresh_from_db()
    assert abs(alice.last_login.timestamp() - signed_in_at) > 4000

    response, request = authorize_on(browser, public_client.client_id)
    tokens = exchange_code(Client(), public_client.client_id, code_from(response, request), request).json()

    assert id_token_claims(browser, tokens["id_token"])["auth_time"] == int(signed_in_at)
    assert settings.SESSION_ABSOLUTE_TIMEOUT > 5000  # the aged session is still alive
