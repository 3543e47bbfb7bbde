"""Token introspection (RFC 7662) is for resource servers: confidential clients registered
with ``--introspect``. Another client gets 403; no or wrong credentials 401 ``invalid_client``."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from tests.support.oauth import INTROSPECT_PATH, form_post, mint_token

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def token(alice, public_client) -> str:
    return mint_token(alice, public_client.application, "openid orders:read")


def introspect(token: str, headers: dict | None = None):
    return form_post(Client(), INTROSPECT_PATH, {"token": token}, headers=headers or {})


def test_a_resource_server_learns_that_a_token_is_active(resource_server, public_client, alice, token):
    response = introspect(token, basic(resource_server.client_id, resource_server.client_secret))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is True
    assert set(body["scope"].split()) == {"openid", "orders:read"}
    assert body["client_id"] == public_client.client_id
    assert body["exp"] > time.time()
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("state", ["unknown", "expired", "revoked"])
def test_a_resource_server_learns_that_a_dead_token_is_inactive(resource_server, token, state):
    if state == "expired":
        AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        AccessToken.objects.all().delete()
    value = "no-such-token" if state == "unknown" else token

    response = introspect(value, basic(resource_server.client_id, resource_server.client_secret))

    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_a_confidential_client_not_registered_to_introspect_gets_403(service_client, token):
    response = introspect(token, basic(service_client.client_id, service_client.client_secret))

    assert response.status_code == 403
    assert "active" not in response.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer something"},
        {"Authorization": "Basic not-base64!"},
    ],
    ids=["no credentials", "bearer instead of basic", "malformed basic"],
)
def test_introspection_without_client_credentials_is_invalid_client(token, headers):
    response = introspect(token, headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_introspection_with_a_wrong_secret_is_invalid_client(resource_server, token):
    response = introspect(token, basic(resource_server.client_id, resource_server.client_secret + "x"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_introspection_by_a_public_client_is_invalid_client(public_client, token):
    response = introspect(token, basic(public_client.client_id, ""))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_introspection_with_a_token_as_credential_is_refused(token, alice, public_client):
    """A user's access token is no credential for introspection (DOT would accept one with
    the ``introspection`` scope)."""
    own = mint_token(alice, public_client.application, "openid introspection")

    response = introspect(token, {"Authorization": f"Bearer {own}"})

    assert response.status_code == 401


def test_introspection_is_post_only(resource_server, token):
    response = Client().get(
        f"{INTROSPECT_PATH}?token={token}", headers=basic(resource_server.client_id, resource_server.client_secret)
    )

    assert response.status_code == 405


# --- What a resource server learns: no more than the token's scopes allow ---------------------------


def introspected(token: str, resource_server) -> dict:
    response = introspect(token, basic(resource_server.client_id, resource_server.client_secret))
    assert response.status_code == 200, response.content
    return response.json()


def test_introspection_names_no_email_for_a_token_without_the_email_scope(resource_server, alice, token):
    body = introspected(token, resource_server)

    assert body["active"] is True
    assert "username" not in body
    assert alice.email not in str(body)
    assert body["sub"] == str(alice.pk)  # openid: the account id


def test_introspection_names_the_email_for_a_token_with_the_email_scope(resource_server, public_client, alice):
    body = introspected(mint_token(alice, public_client.application, "openid email orders:read"), resource_server)

    assert body["active"] is True
    assert body["username"] == alice.email


def test_introspection_names_no_account_for_a_token_without_openid(resource_server, public_client, alice):
    body = introspected(mint_token(alice, public_client.application, "orders:read"), resource_server)

    assert body["active"] is True
    assert "sub" not in body and "username" not in body
    assert body["scope"] == "orders:read"


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_the_token_of_an_inactive_or_deleted_user_is_inactive(resource_server, alice, token, change):
    """The account changed under a live token row (the bearer check refuses it too)."""
    users = type(alice).objects.filter(pk=alice.pk)
    users.update(is_active=False) if change == "deactivated" else users.update(deleted_at=timezone.now())

    assert introspected(token, resource_server) == {"active": False}
    assert Client().get("/api/me/", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_client_credentials_token_is_active_without_any_account(resource_server, service_client):
    machine = mint_token(None, service_client.application, "orders:read")

    body = introspected(machine, resource_server)

    assert body["active"] is True
    assert body["client_id"] == service_client.client_id
    assert "sub" not in body and "username" not in body
