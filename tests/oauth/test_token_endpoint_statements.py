"""How many SQL statements each token-endpoint request runs: a regression fails here.

Every statement costs 0.3-0.4 ms of Python on the bench's machine (ORM compile, driver,
round trip), more than PostgreSQL spends on it; ``make bench`` (issue 16) showed the token
endpoint at 5-15 ms of CPU per request. The counts below are what the rules need, grant by
grant (comments say what each statement is for); a change that adds one has to say why here.

Counted on Django's test client, in the steady state (the client was looked up once already,
so its row comes from the client cache in ``oauth.token_cache``), with transaction statements (savepoints)
included: they are round trips too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_access_token_model

from oauth import token_cache
from tests.support.oauth import (
    INTROSPECT_PATH,
    TOKEN_PATH,
    authorize_on,
    code_from,
    exchange_code,
    form_post,
    mint_token,
    refresh,
    tokens_for,
)

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db


def basic(registered) -> dict[str, str]:
    credentials = base64.b64encode(f"{registered.client_id}:{registered.client_secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def settle(*registered) -> None:
    """Registering a client writes its policy, which tombstones the client's cache entry for
    ``TTL`` seconds (right: an entry without the policy may exist); start after that."""
    for client in registered:
        cache.delete(token_cache.client_key(client.client_id))


def counted(send) -> tuple[object, list[str]]:
    """Send one request (after a first one of the same kind warmed the caches); its statements."""
    with CaptureQueriesContext(connection) as captured:
        response = send()
    return response, [query["sql"] for query in captured.captured_queries]


def client_credentials(service_client):
    return form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials", "scope": "orders:read"},
                     **basic(service_client))


# Before issue 16: client credentials 9, refresh 34, code exchange 25, introspection 2. The ID token
# is linked to its access token without re-reading it (-2 each for refresh and exchange); DOT's
# savepoint inside the save transaction is gone (-2 each); the ID token's row is written in the
# tokens' transaction, with no empty transaction of DOT's around it (-2 each, in tests); DOT's
# view no longer reads the access token it returns back, for a signal nobody here receives (-1).
CLIENT_CREDENTIALS = 4  # the save transaction (2), the token, the audit row
# The refresh: the token with its access token, its user, its family and the user's consent
# (one statement; DOT read the token, the user and the client, we then the family and the
# consent); the save transaction (2) around: the spent row, the family's lock, the conditional
# UPDATE that spends the token, the DELETE of its access token, the ID token, the new access
# and refresh tokens, the audit row.
REFRESH = 11
# The code read once, with its user and family (DOT read it 4 times, and again saving); the save
# transaction (2) around: the code's redemption (which records its family), the ID token, the
# access and refresh tokens, the audit row; then DOT's DELETE of the code.
CODE_EXCHANGE = 9
INTROSPECTION = 0  # the client and the token both come from the cache


def test_client_credentials_runs_its_pinned_statements_and_never_reads_the_client_row(service_client):
    settle(service_client)
    client_credentials(service_client)
    response, statements = counted(lambda: client_credentials(service_client))
    assert response.status_code == 200, response.content
    assert not [sql for sql in statements if "oauth2_provider_application" in sql.split(" WHERE")[0].split("FROM")[-1]]
    assert len(statements) == CLIENT_CREDENTIALS, statements


def test_a_refresh_runs_its_pinned_statements(browser, public_client):
    settle(public_client)
    tokens, _request = tokens_for(browser, public_client.client_id)
    response, statements = counted(lambda: form_post(Client(), TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": public_client.client_id}))
    assert response.status_code == 200, response.content
    assert len(statements) == REFRESH, statements
    assert_access_token_carries_its_id_token(response.json())


def test_a_code_exchange_runs_its_pinned_statements_and_reads_the_code_once(browser, public_client):
    settle(public_client)
    tokens_for(browser, public_client.client_id)
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)
    response, statements = counted(lambda: exchange_code(Client(), public_client.client_id, code, request))
    assert response.status_code == 200, response.content
    grant_reads = [sql for sql in statements if sql.startswith("SELECT") and 'FROM "oauth2_provider_grant"' in sql]
    assert len(grant_reads) == 1, grant_reads  # with its user and family; the RFC 8707 check reuses it
    assert len(statements) == CODE_EXCHANGE, statements
    assert_access_token_carries_its_id_token(response.json())


def assert_access_token_carries_its_id_token(body: dict) -> None:
    """The ID token row is linked without DOT's re-parse of the signed JWT: the same jti."""
    payload = body["id_token"].split(".")[1]
    jti = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
    access_token = AccessToken.objects.select_related("id_token").get(
        token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest()
    )
    assert access_token.id_token is not None and str(access_token.id_token.jti) == jti


def test_an_introspection_runs_no_statement_once_client_and_token_are_cached(resource_server, alice, public_client):
    settle(resource_server)
    token = mint_token(alice, public_client.application, "openid orders:read")
    send = lambda: form_post(Client(), INTROSPECT_PATH, {"token": token}, **basic(resource_server))  # noqa: E731
    send()
    response, statements = counted(send)
    assert response.status_code == 200 and response.json()["active"] is True, response.content
    assert len(statements) == INTROSPECTION, statements


def test_a_token_is_never_issued_without_its_audit_row(service_client, monkeypatch):
    """The audit row is written in the tokens' transaction: if it fails, no token is left."""
    from oauth import validators

    def failing_audit(*args, **kwargs):
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr(validators, "_audit", failing_audit)
    with pytest.raises(RuntimeError):
        client_credentials(service_client)
    assert not AccessToken.objects.exists()


def test_an_app_authorized_receiver_still_gets_the_token_issued(browser, public_client):
    """The read-back of the new token is skipped only while nobody listens for DOT's signal."""
    from oauth2_provider.signals import app_authorized

    received = []

    def receiver(sender, request, token, **kwargs):
        received.append(token)

    app_authorized.connect(receiver)
    try:
        tokens, _request = tokens_for(browser, public_client.client_id)
        response = refresh(public_client.client_id, tokens["refresh_token"])
    finally:
        app_authorized.disconnect(receiver)
    assert response.status_code == 200, response.content
    checksums = [token.token_checksum for token in received]
    assert checksums == [
        hashlib.sha256(tokens["access_token"].encode()).hexdigest(),
        hashlib.sha256(response.json()["access_token"].encode()).hexdigest(),
    ]


def test_a_request_over_the_per_ip_limit_is_refused_before_any_statement(settings, service_client):
    """Every token request is counted per IP before anything is read from the database."""
    settings.TOKEN_RATE_PER_IP = "1/h"
    now = time.time()
    with mock.patch("django_ratelimit.core.time", SimpleNamespace(time=lambda: now)):  # no new window
        assert client_credentials(service_client).status_code == 200
        cache.delete(token_cache.client_key(service_client.client_id))  # the client is not cached

        response, statements = counted(lambda: client_credentials(service_client))

    assert response.status_code == 429, response.content
    assert statements == []
