"""A personal access token gives exactly what an OAuth token with the same scopes gives.

Every endpoint of the access matrix (``tests/permissions/test_access_matrix.py``) and of the
bearer channel (``tests/oauth/test_token_scopes.py``) x role x relationship x scope set: the
same user calls it once with an OAuth access token and once with a personal token carrying
the same scopes, each time in a fresh copy of the same world (a savepoint rolled back in
between). The status, the error code, message and challenge, the shape of a success and
what it wrote must be the same.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import Client
from oauth2_provider.models import get_application_model

from oauth import services
from oauth.registration import register_client
from tests.permissions.test_access_matrix import (
    ENDPOINTS,
    ROLES,
    Endpoint,
    build_target,
    make_principal,
    relationships_of,
    snapshot,
)
from tests.support.oauth import REDIRECT_URI, USER_SCOPES, api_get, api_post, mint_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_client(db) -> SimpleNamespace:
    """An OAuth client like ``demo-client`` (public, every user scope), to mint OAuth tokens for."""
    registered = register_client(
        name="Equivalence App",
        client_type="public",
        grant="authorization-code",
        scopes=USER_SCOPES.split(),
        redirect_uris=[REDIRECT_URI],
        client_id="test-equivalence-client",
    )
    return SimpleNamespace(application=get_application_model().objects.get(client_id=registered.client_id))


# Each order scope alone, neither, and all of them (which covers both order scopes together).
SCOPE_SETS = {
    "read": "orders:read",
    "write": "orders:write",
    "openid": "openid",
    "everything": "openid profile email orders:read orders:write",
}

# Endpoints beyond the matrix's object actions: (method, path, body).
OTHER_ENDPOINTS = {
    "list orders": ("GET", "/api/orders/", None),
    "list refund requests": ("GET", "/api/refund-requests/", None),
    "create order": ("POST", "/api/orders/", {"amount": "12.50", "currency": "EUR"}),
    "me": ("GET", "/api/me/", None),
    "list users": ("GET", "/api/users/", None),
    "view a user": ("GET", "/api/users/{me}/", None),
    "list tokens": ("GET", "/api/tokens/", None),
    "create a token": ("POST", "/api/tokens/", {"name": "x", "scopes": ["orders:read"], "expires_in_days": 1}),
    "view a missing order": ("GET", f"/api/orders/{uuid.UUID(int=1)}/", None),
}


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def anonymised(value, me: str):
    """The body with the ids and times that differ between two copies of a world made alike."""
    if isinstance(value, dict):
        return {key: "<time>" if key.endswith("_at") and item else anonymised(item, me) for key, item in value.items()}
    if isinstance(value, list):
        return [anonymised(item, me) for item in value]
    if isinstance(value, str) and _is_uuid(value):
        return "<caller>" if value == me else "<id>"
    return value


def answer(response, me) -> tuple:
    """What must not differ between the two channels."""
    body = response.json() if response.content else None
    return (response.status_code, anonymised(body, str(me)), response.get("WWW-Authenticate"))


def both_tokens(user, scopes: str, application) -> dict[str, str]:
    _personal, personal = services.personal_token_create(
        owner=user, name="same", scopes=scopes.split(), expires_in_days=1
    )
    return {"oauth": mint_token(user, application, scopes), "personal": personal}


def in_a_fresh_world(act) -> tuple:
    """Run ``act`` in a savepoint that is rolled back: the next channel sees the same world."""
    with transaction.atomic():
        try:
            return act()
        finally:
            transaction.set_rollback(True)


def call(method: str, path: str, token: str, body: dict | None):
    return api_get(Client(), path, token) if method == "GET" else api_post(Client(), path, token, body, method=method)


def object_cases():
    for endpoint in ENDPOINTS.values():
        for role in ROLES:
            for relationship in relationships_of(endpoint):
                for scope_set in SCOPE_SETS:
                    yield pytest.param(
                        endpoint, role, relationship, scope_set, id=f"{endpoint.name}-{role}-{relationship}-{scope_set}"
                    )


@pytest.mark.parametrize("endpoint,role,relationship,scope_set", list(object_cases()))
def test_object_endpoints_answer_the_same_to_both_tokens(
    public_client, endpoint: Endpoint, role, relationship, scope_set
):
    principal = make_principal(role)
    tokens = both_tokens(principal, SCOPE_SETS[scope_set], public_client.application)

    def act(token: str):
        def run():
            obj = build_target(endpoint, principal, relationship)
            before = snapshot(obj)
            response = call(endpoint.method, endpoint.api_path.format(id=obj.id), token, endpoint.body)
            return answer(response, principal.pk), before, snapshot(obj)

        return run

    oauth = in_a_fresh_world(act(tokens["oauth"]))
    personal = in_a_fresh_world(act(tokens["personal"]))

    assert personal == oauth


@pytest.mark.parametrize("scope_set", SCOPE_SETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", OTHER_ENDPOINTS)
def test_other_endpoints_answer_the_same_to_both_tokens(public_client, name, role, scope_set):
    method, path, body = OTHER_ENDPOINTS[name]
    principal = make_principal(role)
    tokens = both_tokens(principal, SCOPE_SETS[scope_set], public_client.application)
    # Something to list: an order and a refund request of every relationship.
    targets = [
        build_target(ENDPOINTS["view refund request"], principal, rel)
        for rel in relationships_of(ENDPOINTS["view refund request"])
    ]
    assert targets

    answers = {
        channel: in_a_fresh_world(
            lambda token=token: answer(call(method, path.format(me=principal.pk), token, body), principal.pk)
        )
        for channel, token in tokens.items()
    }

    assert answers["personal"] == answers["oauth"]
