"""Attacks on the token endpoint: codes, refresh tokens, the password grant, client secrets, throttling."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, check_password
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import AuditEvent
from tests.factories import PASSWORD
from tests.oauth.helpers import (
    REDIRECT_URI,
    TOKEN_PATH,
    authorize_on,
    bearer,
    code_from,
    exchange_code,
    form_post,
    refresh,
    tokens_for,
)

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()

pytestmark = pytest.mark.django_db


def assert_oauth_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.json()["error"] == error, response.json()
    assert response["Cache-Control"] == "no-store"


def api_status(token: str, path: str = "/api/orders/") -> int:
    return Client().get(path, headers=bearer(token)).status_code


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


# --- Authorization codes ---------------------------------------------------------------------------


def test_a_wrong_code_verifier_is_invalid_grant(browser, public_client):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    answer = exchange_code(Client(), public_client.client_id, code, request, code_verifier="x" * 64)

    assert_oauth_error(answer, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_wrong_code_verifier_does_not_burn_the_code(browser, public_client):
    """The code is redeemed only once everything was checked: the client's retry still works."""
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    assert_oauth_error(exchange_code(Client(), public_client.client_id, code, request, code_verifier="x" * 64), "invalid_grant")
    answer = exchange_code(Client(), public_client.client_id, code, request)

    assert answer.status_code == 200, answer.content
    assert not AuditEvent.objects.filter(event="token_reuse_detected").exists()


def test_a_missing_code_verifier_is_refused(browser, public_client):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    answer = exchange_code(Client(), public_client.client_id, code, request, code_verifier=None)

    assert answer.status_code == 400
    assert answer.json()["error"] in {"invalid_request", "invalid_grant"}
    assert not AccessToken.objects.exists()


def test_a_replayed_code_is_invalid_grant_and_revokes_the_tokens_it_produced(browser, public_client):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)
    first = exchange_code(Client(), public_client.client_id, code, request)
    assert first.status_code == 200
    tokens = first.json()
    assert api_status(tokens["access_token"]) == 200

    replay = exchange_code(Client(), public_client.client_id, code, request)

    assert_oauth_error(replay, "invalid_grant")
    assert api_status(tokens["access_token"]) == 401
    assert_oauth_error(refresh(public_client.client_id, tokens["refresh_token"]), "invalid_grant")
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_a_code_redeemed_by_another_client_is_invalid_grant(browser, public_client, other_public_client):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    stolen = exchange_code(Client(), other_public_client.client_id, code, request)

    assert_oauth_error(stolen, "invalid_grant")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:8765/other", "http://127.0.0.1:8765/callback?x=1", "http://127.0.0.1:49152/callback", "https://evil.example/callback"],
    ids=["other path", "added query", "other loopback port", "other host"],
)
def test_a_code_redeemed_with_another_redirect_uri_is_invalid_grant(browser, public_client, redirect_uri):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    answer = exchange_code(Client(), public_client.client_id, code, request, redirect_uri=redirect_uri)

    assert_oauth_error(answer, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_code_issued_to_one_loopback_port_is_not_redeemed_without_it(browser, public_client):
    """Leaving redirect_uri out falls back to the registered URI, which is not the one used."""
    response, request = authorize_on(browser, public_client.client_id, redirect_uri="http://127.0.0.1:49152/callback")
    code = code_from(response, request)

    answer = exchange_code(Client(), public_client.client_id, code, request, redirect_uri=None)

    assert_oauth_error(answer, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_an_expired_code_is_invalid_grant(browser, public_client):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert_oauth_error(exchange_code(Client(), public_client.client_id, code, request), "invalid_grant")


def test_an_unknown_code_is_invalid_grant(public_client):
    from tests.oauth.helpers import authorize_url

    request = authorize_url("/o/authorize/", public_client.client_id)

    assert_oauth_error(exchange_code(Client(), public_client.client_id, "not-a-code", request), "invalid_grant")


# --- Refresh tokens --------------------------------------------------------------------------------


def test_a_refresh_token_of_one_client_used_by_another_is_invalid_grant(browser, public_client, other_public_client):
    tokens, _request = tokens_for(browser, public_client.client_id)

    assert_oauth_error(refresh(other_public_client.client_id, tokens["refresh_token"]), "invalid_grant")
    assert AccessToken.objects.filter(application=other_public_client.application).count() == 0


def test_a_refresh_asking_for_a_wider_scope_is_invalid_scope(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")

    answer = refresh(public_client.client_id, tokens["refresh_token"], scope="openid orders:read orders:write")

    assert_oauth_error(answer, "invalid_scope")
    assert not AccessToken.objects.filter(scope__contains="orders:write").exists()


def test_a_refresh_may_narrow_the_scope(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read orders:write")

    answer = refresh(public_client.client_id, tokens["refresh_token"], scope="orders:read")

    assert answer.status_code == 200, answer.content
    assert answer.json()["scope"] == "orders:read"
    narrowed = answer.json()["access_token"]
    assert Client().post("/api/orders/", {"amount": "1.00", "currency": "EUR"}, content_type="application/json",
                         headers=bearer(narrowed)).status_code == 403


def test_the_refresh_token_of_a_deactivated_user_is_invalid_grant(browser, public_client, alice):
    tokens, _request = tokens_for(browser, public_client.client_id)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)

    assert_oauth_error(refresh(public_client.client_id, tokens["refresh_token"]), "invalid_grant")


# --- The password grant does not exist -----------------------------------------------------------------


def test_the_password_grant_is_unsupported_with_any_client_and_any_password(alice, public_client, service_client):
    attempts = [
        {"client_id": public_client.client_id, "password": PASSWORD},
        {"client_id": public_client.client_id, "password": "wrong password 123"},
        {"client_id": "no-such-client", "password": PASSWORD},
        {"client_id": "no-such-client", "password": "wrong password 123"},
        {"password": PASSWORD},
    ]
    bodies = []
    with mock.patch.object(MD5PasswordHasher, "verify", autospec=True, side_effect=MD5PasswordHasher.verify) as verify:
        for attempt in attempts:
            response = form_post(Client(), TOKEN_PATH, {"grant_type": "password", "username": alice.email, **attempt})
            assert response.status_code == 400
            bodies.append(response.content)
        for password in (PASSWORD, "wrong password 123"):
            response = form_post(
                Client(),
                TOKEN_PATH,
                {"grant_type": "password", "username": alice.email, "password": password},
                headers=basic(service_client.client_id, service_client.client_secret),
            )
            assert response.status_code == 400
            bodies.append(response.content)

    assert len(set(bodies)) == 1, bodies
    assert_oauth_error(response, "unsupported_grant_type")
    assert verify.call_count == 0  # no user password was ever checked
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("grant_type", ["implicit", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"])
def test_other_grant_types_do_not_exist(public_client, grant_type):
    response = form_post(Client(), TOKEN_PATH, {"grant_type": grant_type, "client_id": public_client.client_id})

    assert_oauth_error(response, "unsupported_grant_type")


# --- Client authentication -----------------------------------------------------------------------------


def test_client_secrets_are_stored_hashed_with_the_fast_keyed_hasher(service_client, web_client):
    for client in (service_client, web_client):
        stored = type(client.application).objects.get(pk=client.application.pk).client_secret
        assert stored.startswith("client_secret_hmac_sha256$")
        assert client.client_secret not in stored
        assert check_password(client.client_secret, stored)
        assert not check_password(client.client_secret + "x", stored)


def test_a_confidential_client_authenticates_with_its_plain_secret(service_client):
    ok = form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials"}, headers=basic(service_client.client_id, service_client.client_secret))
    in_body = form_post(
        Client(),
        TOKEN_PATH,
        {"grant_type": "client_credentials", "client_id": service_client.client_id, "client_secret": service_client.client_secret},
    )

    assert ok.status_code == 200, ok.content
    assert ok.json()["scope"] == "orders:read"
    assert in_body.status_code == 200, in_body.content


@pytest.mark.parametrize("secret", ["wrong", "", None], ids=["wrong secret", "empty secret", "no secret"])
def test_a_confidential_client_with_a_wrong_or_missing_secret_is_invalid_client(service_client, secret):
    data = {"grant_type": "client_credentials", "client_id": service_client.client_id}
    if secret is not None:
        data["client_secret"] = secret

    response = form_post(Client(), TOKEN_PATH, data)

    assert_oauth_error(response, "invalid_client", status=401)
    assert not AccessToken.objects.exists()


def test_a_public_client_cannot_use_client_credentials(public_client):
    response = form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials", "client_id": public_client.client_id})

    assert response.status_code in (400, 401)
    assert response.json()["error"] in {"invalid_client", "unauthorized_client"}
    assert not AccessToken.objects.exists()


def test_a_client_credentials_client_cannot_ask_for_more_than_its_scopes(service_client):
    response = form_post(
        Client(),
        TOKEN_PATH,
        {"grant_type": "client_credentials", "scope": "orders:read orders:write"},
        headers=basic(service_client.client_id, service_client.client_secret),
    )

    assert_oauth_error(response, "invalid_scope")


# --- Throttling per client ------------------------------------------------------------------------------


@pytest.fixture
def frozen_ratelimit_clock():
    """Freeze django-ratelimit's clock so the fixed window cannot roll over mid-test."""
    frozen = SimpleNamespace(time=lambda now=time.time(): now)
    with mock.patch("django_ratelimit.core.time", frozen):
        yield


def test_the_token_endpoint_is_rate_limited_per_client(settings, service_client, public_client, frozen_ratelimit_clock):
    settings.TOKEN_RATE_PER_CLIENT = "3/m"
    headers = basic(service_client.client_id, service_client.client_secret)

    answers = [form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials"}, headers=headers) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["error"] == "temporarily_unavailable"
    assert int(limited["Retry-After"]) > 0
    assert AccessToken.objects.count() == 3
    # The limit is the client's own: another client is not held back, and the same
    # client named in the form body instead of the header is the same client.
    other = form_post(Client(), TOKEN_PATH, {"grant_type": "authorization_code", "code": "x", "client_id": public_client.client_id, "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 43})
    assert other.status_code == 400
    in_body = form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials", "client_id": service_client.client_id, "client_secret": service_client.client_secret})
    assert in_body.status_code == 429
