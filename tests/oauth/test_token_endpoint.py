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
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from accounts.models import AuditEvent
from oauth.models import ClientPolicy, Consent, SpentRefreshToken, digest
from tests.factories import PASSWORD
from tests.support.oauth import (
    REDIRECT_URI,
    TOKEN_PATH,
    api_post,
    assert_api_error,
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

    assert_oauth_error(
        exchange_code(Client(), public_client.client_id, code, request, code_verifier="x" * 64), "invalid_grant"
    )
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
    from tests.support.oauth import authorize_url

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


def narrow_client_policy(client, scopes: str) -> None:
    ClientPolicy.objects.filter(application=client.application).update(scopes=scopes)


def create_order(token: str):
    return api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"})


def test_a_refresh_after_the_client_was_narrowed_carries_only_the_scopes_still_allowed(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id)
    assert create_order(tokens["access_token"]).status_code == 201
    narrow_client_policy(public_client, "openid orders:read")

    answer = refresh(public_client.client_id, tokens["refresh_token"])

    assert answer.status_code == 200, answer.content
    refreshed = answer.json()
    assert set(refreshed["scope"].split()) == {"openid", "orders:read"}
    assert AccessToken.objects.get(token_checksum=digest(refreshed["access_token"])).scope.split() == [
        "openid",
        "orders:read",
    ]
    assert_api_error(create_order(refreshed["access_token"]), 403, "INSUFFICIENT_SCOPE")
    # The chain stays narrowed: the next refresh cannot win the scope back.
    again = refresh(public_client.client_id, refreshed["refresh_token"])
    assert again.status_code == 200, again.content
    assert set(again.json()["scope"].split()) == {"openid", "orders:read"}


def test_a_refresh_asking_for_a_scope_the_client_may_no_longer_ask_for_is_invalid_scope(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id)
    narrow_client_policy(public_client, "openid orders:read")

    answer = refresh(public_client.client_id, tokens["refresh_token"], scope="openid orders:write")

    assert_oauth_error(answer, "invalid_scope")
    assert (
        not AccessToken.objects.filter(scope__contains="orders:write")
        .exclude(token_checksum=digest(tokens["access_token"]))
        .exists()
    )


def test_a_refresh_carries_only_what_the_users_remembered_consent_still_covers(browser, public_client, alice):
    tokens, _request = tokens_for(browser, public_client.client_id)
    Consent.objects.filter(user=alice, application=public_client.application).update(scopes="openid orders:read")

    answer = refresh(public_client.client_id, tokens["refresh_token"])

    assert answer.status_code == 200, answer.content
    assert set(answer.json()["scope"].split()) == {"openid", "orders:read"}
    assert_api_error(create_order(answer.json()["access_token"]), 403, "INSUFFICIENT_SCOPE")


def test_a_refresh_with_no_scope_left_is_invalid_grant(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="orders:write")
    narrow_client_policy(public_client, "openid orders:read")

    assert_oauth_error(refresh(public_client.client_id, tokens["refresh_token"]), "invalid_grant")


# --- A refused refresh does not spend the refresh token ----------------------------------------------


def assert_family_alive(refresh_token: str) -> None:
    family = RefreshToken.objects.get(token_checksum=digest(refresh_token)).token_family
    assert RefreshToken.objects.filter(token_family=family, revoked__isnull=True).count() == 1
    assert not AuditEvent.objects.filter(event=AuditEvent.Type.TOKEN_REUSE_DETECTED).exists()


@pytest.mark.parametrize(
    ("overrides", "error", "status"),
    [
        ({"resource": "not a uri"}, "invalid_target", 400),
        ({"scope": "openid orders:read admin"}, "invalid_scope", 400),
        ({"scope": "openid orders:write"}, "invalid_scope", 400),
        ({"client_id": "test-other-client"}, "invalid_grant", 400),
        ({"client_id": "no-such-client"}, "invalid_client", 401),
    ],
    ids=["invalid target", "unknown scope", "wider scope", "another client", "unknown client"],
)
def test_a_refused_refresh_leaves_the_refresh_token_usable(
    browser, public_client, other_public_client, overrides, error, status
):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")

    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": public_client.client_id,
    }
    refused = form_post(Client(), TOKEN_PATH, {**data, **overrides})
    assert_oauth_error(refused, error, status)
    assert not SpentRefreshToken.objects.filter(token_checksum=digest(tokens["refresh_token"])).exists()

    retry = refresh(public_client.client_id, tokens["refresh_token"])
    assert retry.status_code == 200, retry.content
    assert_family_alive(retry.json()["refresh_token"])
    assert api_status(retry.json()["access_token"]) == 200


def test_a_cache_outage_while_issuing_changes_nothing_and_the_refresh_token_stays_usable(browser, public_client):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    issued_before = AccessToken.objects.count()

    def unreachable(keys):
        raise ConnectionError("cache unreachable")

    with mock.patch("oauth.token_cache._tombstone", unreachable):
        during = form_post(
            Client(raise_request_exception=False),
            TOKEN_PATH,
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": public_client.client_id,
            },
        )

    assert during.status_code == 503, during.content
    assert "Retry-After" in during
    assert AccessToken.objects.count() == issued_before
    assert RefreshToken.objects.get(token_checksum=digest(tokens["refresh_token"])).revoked is None
    assert not SpentRefreshToken.objects.exists()
    assert api_status(tokens["access_token"]) == 200
    retry = refresh(public_client.client_id, tokens["refresh_token"])
    assert retry.status_code == 200, retry.content
    assert_family_alive(retry.json()["refresh_token"])


API = "https://api.example.com/orders"


def code_for_resource(browser, public_client):
    """A code whose authorization request named ``API`` (RFC 8707; the row as DOT stores one)."""
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)
    Grant.objects.filter(code=code).update(resource=[API])
    return code, request


def test_a_code_exchange_inherits_the_resource_recorded_with_its_code(browser, public_client):
    """RFC 8707: a token request naming no resource gets the code's."""
    code, request = code_for_resource(browser, public_client)

    tokens = exchange_code(Client(), public_client.client_id, code, request).json()

    assert AccessToken.objects.get(token_checksum=digest(tokens["access_token"])).resource == [API]
    assert RefreshToken.objects.get(token_checksum=digest(tokens["refresh_token"])).resource == [API]


def test_a_code_exchange_cannot_name_a_resource_beyond_its_codes(browser, public_client):
    code, request = code_for_resource(browser, public_client)

    widened = exchange_code(Client(), public_client.client_id, code, request, resource="https://other.example.com/")

    assert_oauth_error(widened, "invalid_target")
    assert not AccessToken.objects.exists()
    # Refused before anything was spent: the same code with its own resource still works.
    retried = exchange_code(Client(), public_client.client_id, code, request, resource=API)
    assert retried.status_code == 200, retried.content
    assert AccessToken.objects.get().resource == [API]


@pytest.mark.parametrize(("idle_beyond", "status"), [(timedelta(seconds=-30), 200), (timedelta(seconds=1), 400)])
def test_a_refresh_token_dies_once_idle_for_its_idle_lifetime(browser, public_client, settings, idle_beyond, status):
    """REFRESH_TOKEN_IDLE_TTL after its access token expired, a refresh token is dead (DOT's rule)."""
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    idle = timedelta(seconds=settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"])
    AccessToken.objects.filter(token_checksum=digest(tokens["access_token"])).update(
        expires=timezone.now() - idle - idle_beyond
    )

    response = refresh(public_client.client_id, tokens["refresh_token"])

    assert response.status_code == status, response.content
    if status == 400:
        assert_oauth_error(response, "invalid_grant")


def test_a_live_refresh_token_whose_access_token_was_deleted_is_invalid_grant(browser, public_client):
    """An orphan (its access token deleted out of band) has nothing left to refresh against."""
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    AccessToken.objects.filter(token_checksum=digest(tokens["access_token"])).delete()
    assert RefreshToken.objects.get(token_checksum=digest(tokens["refresh_token"])).revoked is None

    assert_oauth_error(refresh(public_client.client_id, tokens["refresh_token"]), "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_refresh_refuses_the_old_access_token_at_once_even_when_it_was_cached(browser, public_client):
    """The rotation deletes the old access token without the ORM's cascade: its cache entry goes too."""
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    assert api_status(tokens["access_token"]) == 200  # now in the token cache

    refreshed = refresh(public_client.client_id, tokens["refresh_token"])

    assert refreshed.status_code == 200, refreshed.content
    assert api_status(tokens["access_token"]) == 401
    assert not AccessToken.objects.filter(token_checksum=digest(tokens["access_token"])).exists()
    assert api_status(refreshed.json()["access_token"]) == 200


def test_a_refresh_token_revoked_after_validation_issues_nothing(browser, public_client, monkeypatch):
    """A sign-out everywhere (or a replay's revocation) may commit between the validation and the
    spend: the spend's conditional UPDATE is the last check, and the refresh fails whole."""
    from oauth.validators import Validator

    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    row = RefreshToken.objects.get(token_checksum=digest(tokens["refresh_token"]))
    issued_before = AccessToken.objects.count()
    lock_family = Validator._lock_family

    def revoked_meanwhile(self, request):
        RefreshToken.objects.filter(pk=row.pk).update(revoked=timezone.now())
        lock_family(self, request)

    monkeypatch.setattr(Validator, "_lock_family", revoked_meanwhile)
    refused = refresh(public_client.client_id, tokens["refresh_token"])

    assert_oauth_error(refused, "invalid_grant")
    # (The simulated revocation ran inside the refused transaction and rolled back with it.)
    assert AccessToken.objects.count() == issued_before
    assert not AccessToken.objects.filter(source_refresh_token=row).exists()
    assert RefreshToken.objects.filter(token_family=row.token_family).count() == 1


@pytest.mark.parametrize("grant", ["authorization_code", "refresh_token"])
def test_a_token_request_that_fails_while_saving_leaves_no_id_token_row(browser, public_client, monkeypatch, grant):
    """The ID token's row is written in the tokens' transaction, not committed on its own before it."""
    from oauth import validators

    IDToken = get_id_token_model()
    tokens, request = tokens_for(browser, public_client.client_id)
    if grant == "authorization_code":
        response, request = authorize_on(browser, public_client.client_id)
        code = code_from(response, request)
        send = lambda: exchange_code(Client(), public_client.client_id, code, request)  # noqa: E731
    else:
        send = lambda: refresh(public_client.client_id, tokens["refresh_token"])  # noqa: E731
    id_tokens_before = IDToken.objects.count()

    def failing_audit(*args, **kwargs):
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr(validators, "_audit", failing_audit)
    with pytest.raises(RuntimeError):
        send()
    assert IDToken.objects.count() == id_tokens_before
    monkeypatch.undo()
    retried = send()
    assert retried.status_code == 200, retried.content
    assert IDToken.objects.count() == id_tokens_before + 1


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


@pytest.mark.parametrize(
    "grant_type",
    ["implicit", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
)
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
    ok = form_post(
        Client(),
        TOKEN_PATH,
        {"grant_type": "client_credentials"},
        headers=basic(service_client.client_id, service_client.client_secret),
    )
    in_body = form_post(
        Client(),
        TOKEN_PATH,
        {
            "grant_type": "client_credentials",
            "client_id": service_client.client_id,
            "client_secret": service_client.client_secret,
        },
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
    response = form_post(
        Client(), TOKEN_PATH, {"grant_type": "client_credentials", "client_id": public_client.client_id}
    )

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
    now = time.time()
    frozen = SimpleNamespace(time=lambda: now)
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
    other = form_post(
        Client(),
        TOKEN_PATH,
        {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": public_client.client_id,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": "v" * 43,
        },
    )
    assert other.status_code == 400
    in_body = form_post(
        Client(),
        TOKEN_PATH,
        {
            "grant_type": "client_credentials",
            "client_id": service_client.client_id,
            "client_secret": service_client.client_secret,
        },
    )
    assert in_body.status_code == 429


# The per-client budget belongs to the client: requests that merely name it do not use it up.

ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
USER_IP = {"REMOTE_ADDR": "198.51.100.7"}


def garbage_exchange(client_id: str, **extra):
    data = {"grant_type": "authorization_code", "code": "garbage", "client_id": client_id,
            "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 43}
    return form_post(Client(), TOKEN_PATH, data, **extra)


def assert_throttled(response) -> None:
    assert response.status_code == 429, (response.status_code, response.content[:300])
    assert response.json()["error"] == "temporarily_unavailable", response.json()
    assert response.json()["error_description"]
    assert int(response["Retry-After"]) > 0
    assert response["Cache-Control"] == "no-store"


def test_garbage_naming_a_public_client_does_not_lock_its_users_out(
    settings, browser, public_client, frozen_ratelimit_clock
):
    settings.TOKEN_RATE_PER_CLIENT = "3/m"
    settings.TOKEN_RATE_PER_IP = "1000/m"

    garbage = [garbage_exchange(public_client.client_id, **ATTACKER) for _ in range(6)]

    assert [answer.status_code for answer in garbage[:3]] == [400, 400, 400]
    for answer in garbage[3:]:
        assert_throttled(answer)  # the attacker's own budget for this client, from its address
    response, request = authorize_on(browser, public_client.client_id)
    exchanged = exchange_code(Client(), public_client.client_id, code_from(response, request), request, **{})
    assert exchanged.status_code == 200, exchanged.content
    refreshed = form_post(
        Client(),
        TOKEN_PATH,
        {
            "grant_type": "refresh_token",
            "refresh_token": exchanged.json()["refresh_token"],
            "client_id": public_client.client_id,
        },
        **USER_IP,
    )
    assert refreshed.status_code == 200, refreshed.content


def test_the_token_endpoint_throttles_an_address_whatever_client_it_names(
    settings, public_client, frozen_ratelimit_clock
):
    settings.TOKEN_RATE_PER_IP = "4/m"
    settings.TOKEN_RATE_PER_CLIENT = "1000/m"
    names = ["no-such-client", public_client.client_id, "another-made-up-id", public_client.client_id]

    answers = [garbage_exchange(name, **ATTACKER) for name in names]
    over = garbage_exchange("yet-another-id", **ATTACKER)

    assert [answer.status_code for answer in answers] == [401, 400, 401, 400]
    assert_throttled(over)
    assert garbage_exchange(public_client.client_id, **USER_IP).status_code == 400  # another address is not held back


def test_an_authenticated_confidential_client_is_throttled_per_client_from_any_address(
    settings, service_client, frozen_ratelimit_clock
):
    settings.TOKEN_RATE_PER_CLIENT = "3/m"
    settings.TOKEN_RATE_PER_IP = "1000/m"
    wrong = basic(service_client.client_id, "not-the-secret")
    failed = [
        form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials"}, headers=wrong, **ATTACKER)
        for _ in range(5)
    ]
    assert {answer.status_code for answer in failed} == {401}
    headers = basic(service_client.client_id, service_client.client_secret)

    answers = [
        form_post(
            Client(), TOKEN_PATH, {"grant_type": "client_credentials"}, headers=headers, REMOTE_ADDR=f"192.0.2.{n}"
        )
        for n in range(1, 5)
    ]

    assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
    assert_throttled(answers[3])
    assert AccessToken.objects.filter(application=service_client.application).count() == 3


def test_tokens_carry_256_random_bits_and_are_stored_only_as_checksums(browser, public_client):
    """``oauth.server.generate_token``: 64 hex digits each, never stored in the clear."""
    first, _request = tokens_for(browser, public_client.client_id)
    second = refresh(public_client.client_id, first["refresh_token"]).json()
    issued = [first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]]
    assert all(len(token) == 64 and int(token, 16) >= 0 for token in issued), issued
    assert len(set(issued)) == 4
    for token in issued:
        assert not AccessToken.objects.filter(token=token).exists()
        assert not RefreshToken.objects.filter(token=token).exists()
    assert AccessToken.objects.filter(token_checksum=digest(second["access_token"])).exists()
    assert RefreshToken.objects.filter(token_checksum=digest(second["refresh_token"])).exists()


def test_a_code_is_deleted_in_the_transaction_that_issues_its_tokens(browser, public_client, monkeypatch):
    """A save that fails leaves the code unredeemed and in place; one that succeeds deletes it."""
    from oauth import validators
    from oauth.models import TokenFamily

    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    def failing_audit(*args, **kwargs):
        raise RuntimeError("the audit row could not be written")

    with monkeypatch.context() as patched:
        patched.setattr(validators, "_audit", failing_audit)
        with pytest.raises(RuntimeError):
            exchange_code(Client(), public_client.client_id, code, request)
    assert Grant.objects.filter(code=code).exists()
    assert TokenFamily.objects.get(code_digest=digest(code)).redeemed_at is None
    assert not AccessToken.objects.filter(application=public_client.application).exists()

    retried = exchange_code(Client(), public_client.client_id, code, request)
    assert retried.status_code == 200, retried.content
    assert not Grant.objects.filter(code=code).exists()
    assert TokenFamily.objects.get(code_digest=digest(code)).redeemed_at is not None


def test_a_token_requests_credentials_are_hidden_from_error_reports(public_client):
    """Django's error reports (mail to ADMINS, the debug page) print POST data: not these."""
    from django.test import RequestFactory
    from django.views.debug import SafeExceptionReporterFilter

    from oauth.views import TokenView

    secrets_sent = {
        "client_secret": "s3cret-client-value",
        "code": "a-code-value",
        "code_verifier": "a-verifier-value",
        "refresh_token": "a-refresh-token-value",
    }
    request = RequestFactory().post(TOKEN_PATH, {"grant_type": "refresh_token", "client_id": "x", **secrets_sent})
    TokenView.as_view()(request)
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    for name, value in secrets_sent.items():
        assert reported[name] != value, name
    assert reported["grant_type"] == "refresh_token"
