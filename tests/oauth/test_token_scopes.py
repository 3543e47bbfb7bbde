"""The bearer channel of the access matrix: what a token may do is its user's current
permissions narrowed by its scopes.

Role x scope set x endpoint, against one declared table. Scope is checked before the object
lookup, so a missing scope is 403 ``INSUFFICIENT_SCOPE`` even for an id that does not exist.
Then the user's life: demotion narrows an existing token at once, deactivation, a password
change and deletion kill it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import Client
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.models import Region, Role, User
from orders.models import Order, RefundRequest
from tests.factories import OrderFactory, RefundRequestFactory, UserFactory, admin, customer
from tests.support.clients import api_call, api_client
from tests.support.oauth import api_get, api_post, assert_api_error, mint_token, refresh, tokens_for
from tests.support.sign_in import page_client

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()

pytestmark = pytest.mark.django_db

ROLES = ("customer", "support", "manager", "admin")
SCOPE_SETS = {
    "read": "orders:read",
    "write": "orders:write",
    "read+write": "orders:read orders:write",
    "openid": "openid",
}
MISSING = uuid.uuid4()


def make_user(role: str) -> User:
    return UserFactory(role=role, region="" if role == Role.ADMIN else Region.EU)


def assert_insufficient_scope(response) -> None:
    assert_api_error(response, 403, "INSUFFICIENT_SCOPE")
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


# --- Reading needs orders:read -----------------------------------------------------------------------

READ_ENDPOINTS = {
    "list orders": ("/api/orders/", 200),
    "view a missing order": (f"/api/orders/{MISSING}/", 404),
    "list refund requests": ("/api/refund-requests/", 200),
    "view a missing refund request": (f"/api/refund-requests/{MISSING}/", 404),
}


@pytest.mark.parametrize("scope_set", SCOPE_SETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", READ_ENDPOINTS)
def test_reading_needs_orders_read(public_client, role, scope_set, endpoint):
    path, allowed_status = READ_ENDPOINTS[endpoint]
    token = mint_token(make_user(role), public_client.application, SCOPE_SETS[scope_set])

    response = api_get(Client(), path, token)

    if "orders:read" in SCOPE_SETS[scope_set].split():
        assert response.status_code == allowed_status, response.content
    else:
        assert_insufficient_scope(response)
        assert 'scope="orders:read"' in response["WWW-Authenticate"]


# --- Writing needs orders:write ---------------------------------------------------------------------

WRITE_ENDPOINTS = {
    "pay a missing order": (f"/api/orders/{MISSING}/pay/", None),
    "cancel a missing order": (f"/api/orders/{MISSING}/cancel/", None),
    "request a refund of a missing order": (f"/api/orders/{MISSING}/refund-requests/", {"reason": "Broken"}),
    "approve a missing refund request": (f"/api/refund-requests/{MISSING}/approve/", None),
    "reject a missing refund request": (f"/api/refund-requests/{MISSING}/reject/", None),
}


@pytest.mark.parametrize("scope_set", SCOPE_SETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS)
def test_writing_needs_orders_write_before_the_object_is_looked_up(public_client, role, scope_set, endpoint):
    path, body = WRITE_ENDPOINTS[endpoint]
    token = mint_token(make_user(role), public_client.application, SCOPE_SETS[scope_set])

    response = api_post(Client(), path, token, body)

    if "orders:write" in SCOPE_SETS[scope_set].split():
        assert_api_error(response, 404, "NOT_FOUND")
    else:
        assert_insufficient_scope(response)
        assert 'scope="orders:write"' in response["WWW-Authenticate"]


CREATE_WITH_WRITE = {"customer": 201, "support": 403, "manager": 403, "admin": 403}


@pytest.mark.parametrize("scope_set", SCOPE_SETS)
@pytest.mark.parametrize("role", ROLES)
def test_creating_an_order_needs_orders_write_and_the_role(public_client, role, scope_set):
    user = make_user(role)
    token = mint_token(user, public_client.application, SCOPE_SETS[scope_set])

    response = api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"})

    if "orders:write" not in SCOPE_SETS[scope_set].split():
        assert_insufficient_scope(response)
    elif CREATE_WITH_WRITE[role] == 201:
        assert response.status_code == 201, response.content
        assert response.json()["owner"] == str(user.pk)
    else:
        assert_api_error(response, 403, "FORBIDDEN")
    assert Order.objects.count() == (1 if response.status_code == 201 else 0)


# Real objects, read+write tokens versus read-only tokens: the scope is what differs.
ACTIONS = {
    # name: (role, make the object, path, body, status with read+write, what changed)
    "customer pays own order": ("customer", "own pending order", "/api/orders/{id}/pay/", None, 200),
    "customer cancels own order": ("customer", "own pending order", "/api/orders/{id}/cancel/", None, 200),
    "customer requests a refund": (
        "customer",
        "own paid order",
        "/api/orders/{id}/refund-requests/",
        {"reason": "Broken"},
        201,
    ),
    "support requests a refund": (
        "support",
        "paid order in region",
        "/api/orders/{id}/refund-requests/",
        {"reason": "Broken"},
        201,
    ),
    "manager approves a refund": ("manager", "refund request", "/api/refund-requests/{id}/approve/", None, 200),
    "manager rejects a refund": ("manager", "refund request", "/api/refund-requests/{id}/reject/", None, 200),
    "admin approves a refund": ("admin", "refund request", "/api/refund-requests/{id}/approve/", None, 200),
}


def _target(kind: str, user: User):
    if kind == "own pending order":
        return OrderFactory(owner=user)
    if kind == "own paid order":
        return OrderFactory(owner=user, status=Order.Status.PAID)
    if kind == "paid order in region":
        return OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
    return RefundRequestFactory(order__owner=customer(Region.EU), order__amount=Decimal("100.00"))


def _state(obj) -> str:
    obj.refresh_from_db()
    return obj.status


@pytest.mark.parametrize("scope_set", ["read+write", "read", "openid"])
@pytest.mark.parametrize("action", ACTIONS)
def test_actions_on_real_objects_need_orders_write(public_client, action, scope_set):
    role, kind, path, body, allowed_status = ACTIONS[action]
    user = make_user(role)
    target = _target(kind, user)
    before = _state(target)
    refunds_before = RefundRequest.objects.count()
    token = mint_token(user, public_client.application, SCOPE_SETS[scope_set])

    response = api_post(Client(), path.format(id=target.pk), token, body)

    if scope_set == "read+write":
        assert response.status_code == allowed_status, response.content
    else:
        assert_insufficient_scope(response)
        assert _state(target) == before
        assert RefundRequest.objects.count() == refunds_before


# --- /api/users/ never with a token ----------------------------------------------------------------


@pytest.mark.parametrize("scope_set", [*SCOPE_SETS, "everything"])
@pytest.mark.parametrize("role", ROLES)
def test_the_users_api_refuses_every_token_even_an_admins(public_client, role, scope_set):
    scopes = "openid profile email orders:read orders:write" if scope_set == "everything" else SCOPE_SETS[scope_set]
    victim = customer()
    token = mint_token(make_user(role), public_client.application, scopes)

    responses = [
        api_get(Client(), "/api/users/", token),
        api_get(Client(), f"/api/users/{victim.pk}/", token),
        api_get(Client(), f"/api/users/{uuid.uuid4()}/", token),
        api_post(Client(), f"/api/users/{victim.pk}/", token, {"role": "admin"}, method="PATCH"),
        api_post(Client(), f"/api/users/{victim.pk}/", token, None, method="DELETE"),
    ]

    for response in responses:
        assert_insufficient_scope(response)
    victim.refresh_from_db()
    assert victim.role == Role.CUSTOMER and victim.is_active and not victim.is_deleted


def test_an_admin_session_can_use_the_users_api():
    """The baseline: the same admin, with a session instead of a token, may."""
    assert api_client(admin()).get("/api/users/").status_code == 200


# --- /api/me/ with any valid token ---------------------------------------------------------------------

PERMISSIONS = {
    ("customer", "orders:read"): ["orders.view_order", "orders.view_refundrequest"],
    ("customer", "orders:write"): [
        "orders.add_order",
        "orders.cancel_order",
        "orders.pay_order",
        "orders.request_refund",
    ],
    ("support", "orders:read"): ["orders.view_order", "orders.view_refundrequest"],
    ("support", "orders:write"): ["orders.request_refund"],
    ("manager", "orders:read"): ["orders.view_order", "orders.view_refundrequest"],
    ("manager", "orders:write"): ["orders.decide_refund"],
    ("admin", "orders:read"): ["orders.view_order", "orders.view_refundrequest"],
    ("admin", "orders:write"): ["orders.decide_refund"],
}

ME_SCOPES = [
    "openid",
    "orders:read",
    "orders:write",
    "orders:read orders:write",
    "openid profile",
    "openid email",
    "openid profile email orders:read orders:write",
]


@pytest.mark.parametrize("scopes", ME_SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_me_works_with_any_valid_token_and_shows_only_what_the_scopes_allow(public_client, role, scopes):
    user = make_user(role)
    token = mint_token(user, public_client.application, scopes)
    granted = scopes.split()

    response = api_get(Client(), "/api/me/", token)

    assert response.status_code == 200, response.content
    body = response.json()
    expected_permissions = sorted({perm for scope in granted for perm in PERMISSIONS.get((role, scope), [])})
    assert body["permissions"] == expected_permissions
    assert body["id"] == str(user.pk)
    assert body["role"] == role
    assert ("email" in body) is ("email" in granted)
    assert ("name" in body) is ("profile" in granted)
    if "email" in granted:
        assert body["email"] == user.email
    if "profile" in granted:
        assert body["name"] == user.name


def test_an_admin_token_never_carries_user_administration_permissions(public_client):
    token = mint_token(admin(), public_client.application, "openid profile email orders:read orders:write")

    permissions = api_get(Client(), "/api/me/", token).json()["permissions"]

    assert not [perm for perm in permissions if not perm.startswith("orders.")]


# --- A token follows its user's current state ---------------------------------------------------------


def test_demoting_a_user_over_the_api_narrows_their_existing_token_at_once(public_client):
    maria = make_user("manager")
    other_customer = customer(Region.EU)
    their_order = OrderFactory(owner=other_customer)
    token = mint_token(maria, public_client.application, "orders:read orders:write")
    assert "orders.decide_refund" in api_get(Client(), "/api/me/", token).json()["permissions"]
    assert [o["id"] for o in api_get(Client(), "/api/orders/", token).json()["results"]] == [str(their_order.pk)]

    response = api_call(api_client(admin()), "PATCH", f"/api/users/{maria.pk}/", {"role": "customer"})
    assert response.status_code == 200, response.content

    me = api_get(Client(), "/api/me/", token).json()
    assert me["role"] == "customer"
    assert "orders.decide_refund" not in me["permissions"]
    assert api_get(Client(), "/api/orders/", token).json()["results"] == []
    assert_api_error(api_get(Client(), f"/api/orders/{their_order.pk}/", token), 404, "NOT_FOUND")


def test_changing_the_role_in_the_database_narrows_an_existing_token_at_once(public_client):
    maria = make_user("manager")
    refund = RefundRequestFactory(order__owner=customer(Region.EU))
    token = mint_token(maria, public_client.application, "orders:read orders:write")
    User.objects.filter(pk=maria.pk).update(role=Role.SUPPORT)

    response = api_post(Client(), f"/api/refund-requests/{refund.pk}/approve/", token)

    assert_api_error(response, 403, "FORBIDDEN")
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.PENDING
    assert api_get(Client(), "/api/me/", token).json()["permissions"] == [
        "orders.request_refund",
        "orders.view_order",
        "orders.view_refundrequest",
    ]


def test_deactivating_a_user_over_the_api_kills_their_token_at_once(public_client):
    alice = customer()
    token = mint_token(alice, public_client.application, "orders:read")

    response = api_call(api_client(admin()), "PATCH", f"/api/users/{alice.pk}/", {"is_active": False})
    assert response.status_code == 200, response.content

    assert_api_error(api_get(Client(), "/api/orders/", token), 401, "INVALID_TOKEN")
    # Reactivating brings no token back.
    api_call(api_client(admin()), "PATCH", f"/api/users/{alice.pk}/", {"is_active": True})
    assert_api_error(api_get(Client(), "/api/orders/", token), 401, "INVALID_TOKEN")


def test_an_inactive_users_token_is_invalid_even_if_it_was_not_revoked(public_client):
    alice = customer()
    token = mint_token(alice, public_client.application, "orders:read")
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert_api_error(api_get(Client(), "/api/orders/", token), 401, "INVALID_TOKEN")
    assert_api_error(api_get(Client(), "/api/me/", token), 401, "INVALID_TOKEN")


def test_changing_the_password_revokes_every_token(public_client, other_public_client, password):
    alice = customer()
    browser = page_client(alice)
    issued, _request = tokens_for(browser, public_client.client_id)
    tokens = [issued["access_token"], mint_token(alice, other_public_client.application, "orders:read")]

    response = browser.post(
        "/accounts/password/change/",
        {
            "old_password": password,
            "new_password1": "a brand new passphrase 77",
            "new_password2": "a brand new passphrase 77",
        },
    )

    assert response.status_code == 302, response.content
    for token in tokens:
        assert_api_error(api_get(Client(), "/api/orders/", token), 401, "INVALID_TOKEN")
    assert not AccessToken.objects.filter(user=alice).exists()
    refreshed = refresh(public_client.client_id, issued["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_deleting_a_user_revokes_their_tokens(public_client):
    alice = customer()
    token = mint_token(alice, public_client.application, "orders:read")

    response = api_call(api_client(admin()), "DELETE", f"/api/users/{alice.pk}/")

    assert response.status_code == 204
    assert_api_error(api_get(Client(), "/api/me/", token), 401, "INVALID_TOKEN")
    assert not AccessToken.objects.filter(user=alice).exists()


# --- Machine clients (client credentials): their own role and region, never a refund decision ---------


def machine_token(role: str, region: str, scopes: str) -> tuple[str, str]:
    from oauth2_provider.models import get_application_model

    from oauth.registration import register_client

    registered = register_client(
        name=f"Machine {role}", client_type="confidential", grant="client-credentials", scopes=scopes.split(),
        role=role, region=region,
    )
    application = get_application_model().objects.get(client_id=registered.client_id)
    return mint_token(None, application, scopes), registered.client_id


def test_a_machine_client_never_decides_a_refund_whatever_its_role():
    token, client_id = machine_token("manager", "EU", "orders:read orders:write")
    refund = RefundRequestFactory(order__owner=customer(Region.EU))

    approve = api_post(Client(), f"/api/refund-requests/{refund.pk}/approve/", token)
    reject = api_post(Client(), f"/api/refund-requests/{refund.pk}/reject/", token)

    assert_api_error(approve, 403, "FORBIDDEN")
    assert_api_error(reject, 403, "FORBIDDEN")
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.PENDING
    me = api_get(Client(), "/api/me/", token).json()
    assert me == {
        "client_id": client_id,
        "role": "manager",
        "region": "EU",
        "permissions": ["orders.view_order", "orders.view_refundrequest"],
    }


def test_a_machine_clients_refund_request_names_the_client_not_a_user():
    token, client_id = machine_token("support", "EU", "orders:read orders:write")
    order = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
    other_region = OrderFactory(owner=customer(Region.US), status=Order.Status.PAID)

    created = api_post(Client(), f"/api/orders/{order.pk}/refund-requests/", token, {"reason": "Broken"})
    hidden = api_post(Client(), f"/api/orders/{other_region.pk}/refund-requests/", token, {"reason": "Broken"})

    assert created.status_code == 201, created.content
    assert created.json()["requested_by"] is None
    assert RefundRequest.objects.get().requested_by_client == client_id
    assert_api_error(hidden, 404, "NOT_FOUND")


def test_a_machine_client_lists_only_its_regions_orders():
    token, _client_id = machine_token("support", "US", "orders:read")
    us_order = OrderFactory(owner=customer(Region.US))
    OrderFactory(owner=customer(Region.EU))

    listing = api_get(Client(), "/api/orders/", token).json()

    assert [order["id"] for order in listing["results"]] == [str(us_order.pk)]
