"""The discovery documents tell the truth: every entry is checked against what the server does.

The tests read each document and try what it says, so a wrong entry added later fails here:
every advertised grant type, response type, response mode, PKCE method, client
authentication method, prompt value and scope is accepted, and the well-known values it does
not advertise are refused. Both documents (OIDC Discovery and RFC 8414) go through the same
tests.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client
from joserfc import jws
from oauth2_provider.models import get_access_token_model

from oauth.registration import register_client
from tests.support.oauth import (
    REDIRECT_URI,
    code_from,
    consent_form,
    form_post,
    location,
    mint_token,
    query,
    tokens_for,
)

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db

DOCUMENTS = {
    "openid-configuration": "/o/.well-known/openid-configuration",
    "oauth-authorization-server": "/o/.well-known/oauth-authorization-server",
}
# Values registered for each list (IANA OAuth and OIDC registries) that a document could name.
KNOWN_GRANT_TYPES = [
    "authorization_code", "refresh_token", "client_credentials", "password", "implicit",
    "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:saml2-bearer", "urn:ietf:params:oauth:grant-type:token-exchange",
]
KNOWN_RESPONSE_TYPES = [
    "code",
    "token",
    "id_token",
    "none",
    "code token",
    "code id_token",
    "id_token token",
    "code id_token token",
]
KNOWN_RESPONSE_MODES = ["query", "fragment", "form_post"]
KNOWN_CODE_CHALLENGE_METHODS = ["S256", "plain"]
KNOWN_PROMPT_VALUES = ["none", "login", "consent", "select_account", "create"]
KNOWN_CLIENT_AUTH_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "none",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
]
VERIFIER = "v" * 50


@pytest.fixture(params=DOCUMENTS.values(), ids=DOCUMENTS.keys())
def document(request, client) -> dict:
    response = client.get(request.param)
    assert response.status_code == 200
    return response.json()


def path(document: dict, name: str) -> str:
    return urlsplit(document[name]).path


@pytest.fixture
def every_scope_client(document):
    """A public client registered for every scope the document names (registration accepts them all)."""
    return register_client(
        name="Every Scope App", client_type="public", grant="authorization-code",
        scopes=document["scopes_supported"], redirect_uris=[REDIRECT_URI], client_id="test-every-scope",
    )


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(browser: Client, document: dict, client_id: str, **params):
    """GET the document's authorization endpoint with a valid code request, changed by ``params``."""
    query_params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "st4te", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256", **params,
    }
    return browser.get(f"{path(document, 'authorization_endpoint')}?{urlencode(query_params)}")


def is_consent_page(response) -> bool:
    return response.status_code == 200 and b'id="authorizationForm"' in response.content


def client_error(response) -> str | None:
    """The error a refused authorization request sent back to the client (or showed), else None."""
    if response.status_code == 400:
        return "error page"
    if response.status_code == 302 and location(response).startswith(REDIRECT_URI):
        return query(location(response)).get("error")
    return None


def basic(client_id: str, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_error(document: dict, data: dict, **headers) -> str | None:
    response = form_post(Client(), path(document, "token_endpoint"), data, **headers)
    return response.json().get("error")


# --- The two documents agree --------------------------------------------------------------------


def test_both_documents_name_the_issuer_and_agree_on_every_entry_they_share(client, issuer):
    oidc, rfc8414 = (client.get(url).json() for url in DOCUMENTS.values())

    assert oidc["issuer"] == rfc8414["issuer"] == issuer
    assert {key: oidc[key] for key in oidc.keys() & rfc8414.keys()} == {
        key: rfc8414[key] for key in oidc.keys() & rfc8414.keys()
    }


# --- Grant types (token endpoint) ---------------------------------------------------------------


def test_every_advertised_grant_type_is_served(document, service_client):
    for grant_type in document["grant_types_supported"]:
        error = token_error(
            document, {"grant_type": grant_type}, **basic(service_client.client_id, service_client.client_secret)
        )
        assert error != "unsupported_grant_type", grant_type


def test_every_grant_type_not_advertised_is_unsupported(document, service_client):
    for grant_type in set(KNOWN_GRANT_TYPES) - set(document["grant_types_supported"]):
        error = token_error(
            document, {"grant_type": grant_type, "username": "a@example.com", "password": "x", "device_code": "x"},
            **basic(service_client.client_id, service_client.client_secret),
        )
        assert error == "unsupported_grant_type", grant_type


# --- The authorization endpoint ----------------------------------------------------------------


def test_every_advertised_response_type_is_accepted(document, browser, every_scope_client):
    for response_type in document["response_types_supported"]:
        assert is_consent_page(
            authorize(browser, document, every_scope_client.client_id, response_type=response_type)
        ), response_type


def test_every_response_type_not_advertised_is_refused(document, browser, every_scope_client):
    for response_type in set(KNOWN_RESPONSE_TYPES) - set(document["response_types_supported"]):
        response = authorize(browser, document, every_scope_client.client_id, response_type=response_type)
        assert client_error(response), (response_type, response.status_code, location(response))


def test_every_advertised_response_mode_is_accepted(document, browser, every_scope_client):
    for mode in document["response_modes_supported"]:
        assert is_consent_page(authorize(browser, document, every_scope_client.client_id, response_mode=mode)), mode


def test_every_response_mode_not_advertised_is_refused(document, browser, every_scope_client):
    for mode in set(KNOWN_RESPONSE_MODES) - set(document["response_modes_supported"]):
        assert (
            client_error(authorize(browser, document, every_scope_client.client_id, response_mode=mode))
            == "invalid_request"
        ), mode


def test_every_advertised_code_challenge_method_is_accepted_and_no_other(document, browser, every_scope_client):
    for method in KNOWN_CODE_CHALLENGE_METHODS:
        challenge = s256(VERIFIER) if method == "S256" else VERIFIER
        response = authorize(
            browser, document, every_scope_client.client_id, code_challenge=challenge, code_challenge_method=method
        )
        if method in document["code_challenge_methods_supported"]:
            assert is_consent_page(response), method
        else:
            assert client_error(response) == "invalid_request", method


def test_every_advertised_prompt_value_is_accepted_and_no_other(document, browser, every_scope_client):
    for prompt in KNOWN_PROMPT_VALUES:
        response = authorize(browser, document, every_scope_client.client_id, prompt=prompt)
        if prompt in document["prompt_values_supported"]:
            # none answers consent_required here (nothing approved yet), login asks to sign in, consent shows the page.
            assert client_error(response) in {None, "consent_required"}, (prompt, location(response))
        else:
            assert client_error(response) == "invalid_request", prompt


def test_every_advertised_scope_is_accepted_and_an_unknown_one_is_refused(document, browser, every_scope_client):
    for scope in document["scopes_supported"]:
        assert is_consent_page(authorize(browser, document, every_scope_client.client_id, scope=scope)), scope
    assert (
        client_error(authorize(browser, document, every_scope_client.client_id, scope="openid nope")) == "invalid_scope"
    )


@pytest.mark.parametrize(
    "parameter, value, default, refusal",
    [
        ("request", "eyJhbGciOiJub25lIn0.e30.", False, "request_not_supported"),  # OIDC Discovery defaults
        ("request_uri", "https://app.example.com/request.jwt", True, "request_uri_not_supported"),
    ],
)
def test_request_objects_are_served_exactly_as_advertised(
    document, browser, every_scope_client, parameter, value, default, refusal
):
    response = authorize(browser, document, every_scope_client.client_id, **{parameter: value})

    if document.get(f"{parameter}_parameter_supported", default):
        assert client_error(response) != refusal
    else:
        assert client_error(response) == refusal


def test_authorization_responses_carry_iss_as_advertised(document, browser, trusted_client):
    assert document["authorization_response_iss_parameter_supported"] is True
    success = authorize(browser, document, trusted_client.client_id)
    failure = authorize(browser, document, trusted_client.client_id, scope="openid nope")

    assert query(location(success))["iss"] == document["issuer"] and "code" in query(location(success))
    assert query(location(failure))["iss"] == document["issuer"] and "error" in query(location(failure))


# --- Client authentication at the token, revocation and introspection endpoints ----------------


def check_token_auth(method: str, document: dict, browser, service, public) -> int:
    """The status of a real token request authenticated with ``method``."""
    if method == "client_secret_basic":
        data, headers = {"grant_type": "client_credentials"}, basic(service.client_id, service.client_secret)
    elif method == "client_secret_post":
        data, headers = (
            {
                "grant_type": "client_credentials",
                "client_id": service.client_id,
                "client_secret": service.client_secret,
            },
            {},
        )
    elif method == "none":
        response = authorize(browser, document, public.client_id)
        code = code_from(
            response
            if response.status_code == 302
            else browser.post(
                path(document, "authorization_endpoint"),
                {**consent_form(response.content.decode()), "allow": "Authorize"},
            )
        )
        data = {"grant_type": "authorization_code", "code": code, "client_id": public.client_id,
                "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER}
        headers = {}
    elif method in {"client_secret_jwt", "private_key_jwt"}:
        data = {"grant_type": "client_credentials", "client_id": service.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "eyJhbGciOiJub25lIn0.e30."}
        headers = {}
    elif method == "tls_client_auth":
        data, headers = {"grant_type": "client_credentials", "client_id": service.client_id}, {}
    else:
        pytest.fail(f"the document names {method!r}, which this test does not know how to try")
    return form_post(Client(), path(document, "token_endpoint"), data, **headers).status_code


def test_every_advertised_token_endpoint_auth_method_works_and_no_other(
    document, browser, service_client, public_client
):
    for method in sorted(set(KNOWN_CLIENT_AUTH_METHODS) | set(document["token_endpoint_auth_methods_supported"])):
        status = check_token_auth(method, document, browser, service_client, public_client)
        if method in document["token_endpoint_auth_methods_supported"]:
            assert status == 200, method
        else:
            assert status == 401, (method, status)


def revoke_with(method: str, document: dict, service, public) -> bool:
    """Revoke a live token authenticated with ``method``; was it revoked?"""
    owner = public if method == "none" else service
    token = mint_token(None, owner.application, "orders:read")
    data = {"token": token}
    headers = {}
    if method == "client_secret_basic":
        headers = basic(service.client_id, service.client_secret)
    elif method == "client_secret_post":
        data.update(client_id=service.client_id, client_secret=service.client_secret)
    elif method == "none":
        data.update(client_id=public.client_id)
    else:
        pytest.fail(f"the document names {method!r}, which this test does not know how to try")
    response = form_post(Client(), path(document, "revocation_endpoint"), data, **headers)
    return response.status_code == 200 and not AccessToken.objects.filter(application=owner.application).exists()


def test_every_advertised_revocation_auth_method_works(document, service_client, public_client):
    for method in document["revocation_endpoint_auth_methods_supported"]:
        assert revoke_with(method, document, service_client, public_client), method


def test_every_advertised_introspection_auth_method_works_and_no_other(document, resource_server, service_client):
    token = mint_token(None, service_client.application, "orders:read")
    tries = {
        "client_secret_basic": ({"token": token}, basic(resource_server.client_id, resource_server.client_secret)),
        "client_secret_post": (
            {"token": token, "client_id": resource_server.client_id, "client_secret": resource_server.client_secret},
            {},
        ),
        "none": ({"token": token, "client_id": resource_server.client_id}, {}),
    }
    advertised = document["introspection_endpoint_auth_methods_supported"]
    assert set(advertised) <= set(tries), advertised
    for method, (data, headers) in tries.items():
        response = form_post(Client(), path(document, "introspection_endpoint"), data, **headers)
        if method in advertised:
            assert response.status_code == 200 and response.json()["active"] is True, method
        else:
            assert response.status_code == 401, method


# --- ID tokens (OIDC document) -------------------------------------------------------------------


def test_the_id_token_is_signed_with_an_advertised_algorithm(client, browser, public_client):
    document = client.get(DOCUMENTS["openid-configuration"]).json()
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid")

    header = jws.extract_compact(tokens["id_token"].encode()).protected

    assert header["alg"] in document["id_token_signing_alg_values_supported"]
