"""End-to-end flows on the live provider, driven by Authlib and a requests browser.

Authorization code + PKCE S256 -> access, refresh and ID token; the tokens on the API;
refresh rotation and reuse detection; revocation (RFC 7009); client credentials; the ID
token verified with joserfc against the JWKS that discovery names.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.models import Region, User
from oauth.models import TokenFamily
from orders.models import Order
from tests.factories import OrderFactory, RefundRequestFactory, customer
from tests.support.oauth import authorize_url, bearer, code_from, live, location

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


def sign_in_and_authorize(
    provider, user, client, *, scope="openid profile email orders:read orders:write", browser=None
):
    """Sign in, authorize (consenting), exchange the code with Authlib; return (tokens, request, browser)."""
    browser = browser or provider.browser()
    if browser.signed_in_between is None:
        browser.login(user)
    request = authorize_url(provider.endpoint("authorization_endpoint"), client.client_id, scope=scope)
    response = browser.authorize(request)
    code_from(response, request)
    tokens = request.session.fetch_token(
        provider.endpoint("token_endpoint"),
        authorization_response=location(response),
        code_verifier=request.code_verifier,
    )
    return tokens, request, browser


def api(provider, path: str, token: str, method: str = "GET", **kwargs) -> requests.Response:
    return requests.request(method, provider.base_url + path, headers=bearer(token), timeout=30, **kwargs)


def assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text[:300])
    assert response.json()["code"] == "INVALID_TOKEN"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def verify_id_token(provider, id_token: str) -> dict:
    """Verify an ID token as a relying party: JWKS from discovery, RS256 only."""
    jwks = requests.get(provider.endpoint("jwks_uri"), timeout=30).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    assert token.header.get("kid") in {key["kid"] for key in jwks["keys"]}
    return token.claims


# --- Authorization code + PKCE ---------------------------------------------------------------


@live
def test_code_flow_with_pkce_issues_tokens_that_work_on_the_api(provider, public_client):
    alice, bob = customer(Region.EU), customer(Region.US)
    own = OrderFactory(owner=alice)
    OrderFactory(owner=bob)

    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)

    assert {"access_token", "refresh_token", "id_token", "expires_in", "token_type", "scope"} <= set(tokens)
    assert tokens["token_type"] == "Bearer"
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "orders:read", "orders:write"}
    response = api(provider, "/api/orders/", tokens["access_token"])
    assert response.status_code == 200, response.text
    assert [order["id"] for order in response.json()["results"]] == [str(own.pk)]
    assert response.headers["Cache-Control"] == "no-store"
    # The token row stores a checksum, never the token itself (RFC 9700 token storage).
    row = AccessToken.objects.get(user=alice, application=public_client.application)
    assert row.token == ""
    assert tokens["access_token"] not in {row.token, row.token_checksum}


@live
def test_the_discovery_document_names_every_endpoint_on_the_issuer(provider):
    metadata = provider.metadata
    for name, path in {
        "authorization_endpoint": "/authorize/",
        "token_endpoint": "/token/",
        "revocation_endpoint": "/revoke_token/",
        "introspection_endpoint": "/introspect/",
        "userinfo_endpoint": "/userinfo/",
        "jwks_uri": "/.well-known/jwks.json",
    }.items():
        assert metadata[name] == provider.issuer + path, (name, metadata[name])
    assert metadata["end_session_endpoint"].startswith(provider.issuer + "/logout")
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "password" not in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]
    assert set(metadata["scopes_supported"]) == {"openid", "profile", "email", "orders:read", "orders:write"}


# --- Refresh tokens ------------------------------------------------------------------------------


@live
def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_whole_family(provider, public_client):
    alice = customer(Region.EU)
    tokens, request, _browser = sign_in_and_authorize(provider, alice, public_client)

    refreshed = request.session.refresh_token(
        provider.endpoint("token_endpoint"), refresh_token=tokens["refresh_token"]
    )
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    assert api(provider, "/api/orders/", refreshed["access_token"]).status_code == 200
    # The refreshed-away access token is gone.
    assert_invalid_token(api(provider, "/api/orders/", tokens["access_token"]))

    replay = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_client.client_id,
        },
        timeout=30,
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The replay revoked the family: the newest access token and refresh token are dead too.
    assert_invalid_token(api(provider, "/api/orders/", refreshed["access_token"]))
    newest = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": public_client.client_id,
        },
        timeout=30,
    )
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(user=alice, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(user=alice).exists()


@live
def test_a_refreshed_id_token_keeps_the_sessions_auth_time(provider, public_client):
    alice = customer(Region.EU)
    tokens, request, browser = sign_in_and_authorize(provider, alice, public_client)
    first = verify_id_token(provider, tokens["id_token"])

    refreshed = request.session.refresh_token(
        provider.endpoint("token_endpoint"), refresh_token=tokens["refresh_token"]
    )

    claims = verify_id_token(provider, refreshed["id_token"])
    assert claims["auth_time"] == first["auth_time"]
    assert claims["sub"] == str(alice.pk)


@live
def test_a_refresh_chain_ends_at_its_absolute_lifetime(provider, public_client, settings):
    alice = customer(Region.EU)
    tokens, request, _browser = sign_in_and_authorize(provider, alice, public_client)
    TokenFamily.objects.filter(user=alice).update(
        started_at=timezone.now() - timedelta(seconds=settings.REFRESH_TOKEN_ABSOLUTE_TTL + 1)
    )

    response = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_client.client_id,
        },
        timeout=30,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- Revocation (RFC 7009) ------------------------------------------------------------------------


@live
def test_a_revoked_access_token_no_longer_works_on_the_api(provider, public_client):
    alice = customer(Region.EU)
    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)
    assert api(provider, "/api/orders/", tokens["access_token"]).status_code == 200

    response = requests.post(
        provider.endpoint("revocation_endpoint"),
        data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": public_client.client_id},
        timeout=30,
    )

    assert response.status_code == 200
    assert_invalid_token(api(provider, "/api/orders/", tokens["access_token"]))
    assert_invalid_token(api(provider, "/api/me/", tokens["access_token"]))


@live
def test_a_revoked_refresh_token_can_no_longer_be_exchanged(provider, public_client):
    alice = customer(Region.EU)
    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)

    response = requests.post(
        provider.endpoint("revocation_endpoint"),
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": public_client.client_id,
        },
        timeout=30,
    )

    assert response.status_code == 200
    exchange = requests.post(
        provider.endpoint("token_endpoint"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_client.client_id,
        },
        timeout=30,
    )
    assert exchange.status_code == 400 and exchange.json()["error"] == "invalid_grant"


# --- Client credentials ---------------------------------------------------------------------------


@live
def test_client_credentials_token_acts_with_the_clients_role_and_region(provider, service_client):
    from authlib.integrations.requests_client import OAuth2Session

    eu, us = customer(Region.EU), customer(Region.US)
    eu_order = OrderFactory(owner=eu, status=Order.Status.PAID)
    OrderFactory(owner=us)
    machine = OAuth2Session(service_client.client_id, service_client.client_secret, scope="orders:read")

    tokens = machine.fetch_token(provider.endpoint("token_endpoint"), grant_type="client_credentials")

    assert "refresh_token" not in tokens and "id_token" not in tokens
    listing = api(provider, "/api/orders/", tokens["access_token"])
    assert listing.status_code == 200
    assert [order["id"] for order in listing.json()["results"]] == [str(eu_order.pk)]
    me = api(provider, "/api/me/", tokens["access_token"])
    assert me.status_code == 200
    assert me.json() == {
        "client_id": service_client.client_id,
        "role": "support",
        "region": "EU",
        "permissions": ["orders.view_order", "orders.view_refundrequest"],
    }
    refund = RefundRequestFactory(order=eu_order)
    for path, body in (
        (f"/api/orders/{eu_order.pk}/refund-requests/", {"reason": "x"}),
        (f"/api/refund-requests/{refund.pk}/approve/", {}),
        (f"/api/refund-requests/{refund.pk}/reject/", {}),
        ("/api/orders/", {"amount": "1.00", "currency": "EUR"}),
    ):
        refused = api(provider, path, tokens["access_token"], "POST", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE", path
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    refund.refresh_from_db()
    assert refund.status == "pending"
    users = api(provider, "/api/users/", tokens["access_token"])
    assert users.status_code == 403 and users.json()["code"] == "INSUFFICIENT_SCOPE"


# --- The ID token --------------------------------------------------------------------------------


@live
def test_the_id_token_verifies_against_the_published_keys_with_every_claim_right(provider, public_client):
    alice = customer(Region.EU)
    browser = provider.browser()
    browser.login(alice)
    signed_in_from, signed_in_to = browser.signed_in_between
    # A later sign-in elsewhere moves last_login; auth_time is this session's sign-in.
    User.objects.filter(pk=alice.pk).update(last_login=timezone.now() + timedelta(hours=1))

    tokens, request, _browser = sign_in_and_authorize(provider, alice, public_client, browser=browser)
    claims = verify_id_token(provider, tokens["id_token"])

    assert claims["iss"] == provider.issuer
    assert claims["aud"] == public_client.client_id or claims["aud"] == [public_client.client_id]
    assert claims["exp"] > time.time()
    assert claims["iat"] <= time.time() + 1
    assert claims["nonce"] == request.nonce
    assert claims["sub"] == str(alice.pk)
    assert int(signed_in_from) - 1 <= claims["auth_time"] <= signed_in_to + 1
    assert claims["email_verified"] is False
    assert claims["email"] == alice.email


@live
def test_the_id_token_fails_verification_when_tampered_or_with_another_algorithm(provider, public_client):
    alice = customer(Region.EU)
    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)
    jwks = KeySet.import_key_set(requests.get(provider.endpoint("jwks_uri"), timeout=30).json())
    header, payload, signature = tokens["id_token"].split(".")

    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged_payload}.{signature}", jwks, algorithms=["RS256"])
    # The relying party's allow-list: an RS256 token is not accepted as anything else.
    with pytest.raises(JoseError):
        jwt.decode(tokens["id_token"], jwks, algorithms=["HS256"])


@live
def test_userinfo_gives_the_claims_of_the_tokens_scopes(provider, public_client):
    alice = customer(Region.EU, name="Alice Example")
    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)

    response = api(provider, "/o/userinfo/", tokens["access_token"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sub"] == str(alice.pk)
    assert body["email"] == alice.email
    assert body["email_verified"] is False
    assert body["name"] == "Alice Example"


@live
def test_userinfo_says_email_verified_only_for_a_confirmed_address(provider, public_client):
    alice = customer(Region.EU, email_verified=True)
    tokens, _request, _browser = sign_in_and_authorize(provider, alice, public_client)

    claims = verify_id_token(provider, tokens["id_token"])
    body = api(provider, "/o/userinfo/", tokens["access_token"]).json()

    assert claims["email_verified"] is True
    assert body["email_verified"] is True
