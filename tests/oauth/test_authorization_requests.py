"""Attacks on the authorization endpoint: redirect URIs, clients, PKCE, response types, scopes.

A request whose client or redirect URI cannot be trusted ends on an error PAGE (400, no
Location): redirecting would make the provider an open redirector. A request from a known
client with a matching redirect URI but a bad parameter goes back to the client with an
``error`` (and ``state`` and ``iss``), before any consent page.
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from oauth2_provider.models import get_grant_model

from oauth.models import Consent
from tests.support.oauth import (
    AUTHORIZE_PATH,
    HTTPS_REDIRECT_URI,
    REDIRECT_URI,
    approve_on,
    authorize_url,
    consent_form,
    location,
    query,
)

Grant = get_grant_model()

pytestmark = pytest.mark.django_db


def assert_error_page(response) -> None:
    """Refused without a redirect: a 400 page, no Location, nothing issued."""
    assert response.status_code == 400, (response.status_code, location(response))
    assert "Location" not in response.headers
    assert b"This app's request cannot be completed" in response.content
    assert not Grant.objects.exists()


def assert_error_redirect(response, request, error: str, issuer: str) -> dict:
    """Sent back to the registered redirect URI with the error, the state and the issuer."""
    assert response.status_code == 302, response.status_code
    assert location(response).startswith(REDIRECT_URI + "?"), location(response)
    params = query(location(response))
    assert params["error"] == error, params
    assert params["state"] == request.state
    assert params["iss"] == issuer
    assert "code" not in params
    assert not Grant.objects.exists()
    return params


# --- Redirect URIs: exact match, the loopback port the only leeway -----------------------------

LOOPBACK_VARIANTS = {
    "added query": "http://127.0.0.1:8765/callback?next=https://evil.example/",
    "path suffix": "http://127.0.0.1:8765/callback/evil",
    "longer path": "http://127.0.0.1:8765/callbackevil",
    "path parameter": "http://127.0.0.1:8765/callback;evil=1",
    "userinfo to another host": "http://127.0.0.1:8765@evil.example/callback",
    "userinfo before the host": "http://evil.example@127.0.0.1:8765/callback",
    "fragment": "http://127.0.0.1:8765/callback#evil",
    "other scheme": "https://127.0.0.1:8765/callback",
    "other host": "http://evil.example:8765/callback",
    "localhost by name": "http://localhost:8765/callback",
    "other loopback address": "http://127.0.0.2:8765/callback",
    "encoded path": "http://127.0.0.1:8765/%63allback",
    "other case in the path": "http://127.0.0.1:8765/Callback",
}

HTTPS_VARIANTS = {
    "other port": "https://app.example.com:8443/callback",
    "subdomain": "https://evil.app.example.com/callback",
    "longer host": "https://app.example.com.evil.example/callback",
    "other scheme": "http://app.example.com/callback",
    "added query": "https://app.example.com/callback?x=1",
    "path suffix": "https://app.example.com/callback/x",
    "trailing slash": "https://app.example.com/callback/",
    "path parameter": "https://app.example.com/callback;x=1",
    "userinfo": "https://app.example.com@evil.example/callback",
    "fragment": "https://app.example.com/callback#x",
}


@pytest.mark.parametrize("redirect_uri", LOOPBACK_VARIANTS.values(), ids=LOOPBACK_VARIANTS.keys())
def test_a_loopback_redirect_uri_that_differs_is_refused_with_an_error_page(browser, public_client, redirect_uri):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, redirect_uri=redirect_uri)

    assert_error_page(browser.get(request.url))


@pytest.mark.parametrize("redirect_uri", HTTPS_VARIANTS.values(), ids=HTTPS_VARIANTS.keys())
def test_an_https_redirect_uri_that_differs_is_refused_with_an_error_page(browser, web_client, redirect_uri):
    request = authorize_url(AUTHORIZE_PATH, web_client.client_id, scope="openid", redirect_uri=redirect_uri)

    assert_error_page(browser.get(request.url))


def test_the_registered_https_redirect_uri_is_accepted(browser, web_client):
    request = authorize_url(AUTHORIZE_PATH, web_client.client_id, scope="openid", redirect_uri=HTTPS_REDIRECT_URI)

    response = browser.get(request.url)

    assert response.status_code == 200
    assert b"authorizationForm" in response.content


def test_a_registered_loopback_redirect_uri_accepts_another_port(browser, public_client, issuer):
    """RFC 8252 section 7.3: a native app listens on whatever port it gets."""
    redirect_uri = "http://127.0.0.1:49152/callback"
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, redirect_uri=redirect_uri, scope="openid")

    page = browser.get(request.url)
    assert page.status_code == 200
    response = approve_on(browser, page)

    assert response.status_code == 302
    assert location(response).startswith(redirect_uri + "?")
    params = query(location(response))
    assert params["code"] and params["state"] == request.state and params["iss"] == issuer


def test_an_unknown_client_id_gets_an_error_page_and_no_redirect(browser):
    request = authorize_url(AUTHORIZE_PATH, "no-such-client")

    assert_error_page(browser.get(request.url))


def test_a_missing_redirect_uri_falls_back_to_the_only_registered_one(browser, public_client):
    """RFC 6749 3.1.2.3: with one registered URI it may be omitted; nothing else is ever used."""
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, redirect_uri=None)
    assert "redirect_uri" not in query(request.url)

    response = browser.get(request.url)

    assert response.status_code == 200
    assert consent_form(response.content.decode())["redirect_uri"] == REDIRECT_URI


# --- PKCE: S256 only, refused before any consent page ----------------------------------------


def _raw_authorize_url(client_id: str, **params) -> str:
    base = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st4te",
    }
    return f"{AUTHORIZE_PATH}?{urlencode({**base, **params})}"


_Request = SimpleNamespace(state="st4te")


CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    "pkce",
    [
        {},
        {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
        {"code_challenge": CHALLENGE},
        {"code_challenge_method": "S256"},
        {"code_challenge": CHALLENGE, "code_challenge_method": "s256"},
    ],
    ids=["no PKCE", "plain", "no code_challenge_method", "no code_challenge", "lower-case method"],
)
def test_an_authorization_request_without_pkce_s256_is_refused_before_consent(browser, public_client, issuer, pkce):
    response = browser.get(_raw_authorize_url(public_client.client_id, **pkce))

    assert_error_redirect(response, _Request, "invalid_request", issuer)
    assert not Consent.objects.exists()


# --- Response types: only "code" exists ----------------------------------------------------------


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token", "code token", "code id_token"])
def test_implicit_and_hybrid_response_types_are_refused_and_never_carry_a_token(
    browser, public_client, issuer, response_type
):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, response_type=response_type)

    response = browser.get(request.url)

    target = location(response)
    assert "#" not in target
    assert "access_token" not in target and "id_token=" not in target
    if response.status_code == 400:
        assert_error_page(response)
    else:
        params = assert_error_redirect(response, request, query(target)["error"], issuer)
        assert params["error"] in {"unsupported_response_type", "unauthorized_client"}
    # And no consent page was shown on the way.
    assert b"authorizationForm" not in response.content


def test_response_type_token_is_unsupported(browser, public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, response_type="token")

    assert_error_redirect(browser.get(request.url), request, "unsupported_response_type", issuer)


# --- Parameters this server does not serve: refused, never silently ignored ------------------------

UNSERVED = {
    "request object": ({"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."}, "request_not_supported"),
    "request_uri": ({"request_uri": "https://app.example.com/request.jwt"}, "request_uri_not_supported"),
    "response_mode fragment": ({"response_mode": "fragment"}, "invalid_request"),
    "response_mode form_post": ({"response_mode": "form_post"}, "invalid_request"),
    "prompt select_account": ({"prompt": "select_account"}, "invalid_request"),
    "prompt create": ({"prompt": "create"}, "invalid_request"),
    "prompt login with an unknown value": ({"prompt": "login select_account"}, "invalid_request"),
}


@pytest.mark.parametrize("params, error", UNSERVED.values(), ids=UNSERVED.keys())
def test_a_parameter_this_server_does_not_serve_is_refused_back_to_the_client(
    browser, trusted_client, issuer, params, error
):
    """OIDC Core 6.1/6.2: request and request_uri; a trusted client would otherwise get a code at once."""
    request = authorize_url(AUTHORIZE_PATH, trusted_client.client_id, **params)

    assert_error_redirect(browser.get(request.url), request, error, issuer)


@pytest.mark.parametrize("params, error", UNSERVED.values(), ids=UNSERVED.keys())
def test_a_parameter_this_server_does_not_serve_is_refused_before_an_anonymous_browser_signs_in(
    client, public_client, issuer, params, error
):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, **params)

    assert_error_redirect(client.get(request.url), request, error, issuer)


def test_a_request_object_with_an_unregistered_redirect_uri_gets_the_error_page(browser, public_client):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, request="x.y.z", redirect_uri="https://evil.example/cb")

    assert_error_page(browser.get(request.url))


# --- Scopes: only what the client is registered for, only known ones -------------------------------


@pytest.mark.parametrize(
    "scope", ["openid orders:write", "openid email", "openid admin", "openid orders:delete", "introspection"]
)
def test_a_scope_the_client_is_not_registered_for_or_an_unknown_scope_is_invalid_scope_without_consent(
    browser, narrow_client, issuer, scope
):
    request = authorize_url(AUTHORIZE_PATH, narrow_client.client_id, scope=scope)

    response = browser.get(request.url)

    assert_error_redirect(response, request, "invalid_scope", issuer)


def test_the_registered_scopes_are_accepted(browser, narrow_client):
    request = authorize_url(AUTHORIZE_PATH, narrow_client.client_id, scope="openid orders:read")

    assert browser.get(request.url).status_code == 200


# --- The issuer on every authorization response (RFC 9207) -------------------------------------


def test_a_successful_authorization_response_carries_iss(browser, trusted_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, trusted_client.client_id)

    response = browser.get(request.url)

    assert response.status_code == 302
    params = query(location(response))
    assert params["code"] and params["state"] == request.state
    assert params["iss"] == issuer


def test_an_error_authorization_response_carries_iss(browser, narrow_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, narrow_client.client_id, scope="openid orders:write")

    params = query(location(browser.get(request.url)))

    assert params["error"] == "invalid_scope"
    assert params["iss"] == issuer


def test_the_authorization_endpoint_sends_no_referrer(browser, public_client, trusted_client):
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id).url)
    redirect = browser.get(authorize_url(AUTHORIZE_PATH, trusted_client.client_id).url)

    assert page.status_code == 200 and redirect.status_code == 302
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert redirect.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
