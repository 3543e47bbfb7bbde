"""The access matrix: endpoint x method x role x relationship x channel, against one declared table.

Roles: customer, support, manager (all in the EU region) and admin (no region).
Relationships of the caller to the object acted on:

- ``owner``: the caller owns the order (staff can own orders too: separation of duties);
- ``same_region``: another customer's order in the caller's region (for a customer: "another
  customer, same region"; for the admin: an EU order);
- ``other_region``: a customer's order in the other region (US);
- ``own_refund_request``: a refund request the caller made (on an order in their region; for a
  customer, on their own order).

Channels: the JSON API with a session cookie (signed in through ``POST /api/auth/login/``) and
the server-rendered pages (signed in through ``POST /accounts/login/``).

The contract: an object the caller may not view is 404 ``NOT_FOUND``; one they may view but
not act on is 403 ``FORBIDDEN`` "You do not have permission to <action>"; success is
200/201/204. On pages: the 404 page, the 403 page, a 302 back to the order after a successful
POST. Every case also checks the database: a refused action writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import Region, Role, User
from orders.models import Order, RefundRequest
from tests.factories import OrderFactory, RefundRequestFactory, UserFactory
from tests.support.clients import api_call, api_client
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

ROLES = ("customer", "support", "manager", "admin")
ORDER_RELATIONSHIPS = ("owner", "same_region", "other_region")
REFUND_RELATIONSHIPS = ("owner", "same_region", "other_region", "own_refund_request")
API, PAGE = "session-api", "session-page"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    api_path: str  # formatted with {id}
    page_path: str | None  # None: no page for it
    target: str  # "pending order", "paid order" or "refund request"
    action: str  # the end of "You do not have permission to ..."
    body: dict | None = None


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("view order", "GET", "/api/orders/{id}/", "/orders/{id}/", "pending order", "view orders"),
        Endpoint("pay order", "POST", "/api/orders/{id}/pay/", "/orders/{id}/pay/", "pending order", "pay this order"),
        Endpoint(
            "cancel order",
            "POST",
            "/api/orders/{id}/cancel/",
            "/orders/{id}/cancel/",
            "pending order",
            "cancel this order",
        ),
        Endpoint(
            "request refund",
            "POST",
            "/api/orders/{id}/refund-requests/",
            "/orders/{id}/refund-requests/",
            "paid order",
            "request a refund for this order",
            {"reason": "It broke."},
        ),
        Endpoint(
            "view refund request", "GET", "/api/refund-requests/{id}/", None, "refund request", "view refund requests"
        ),
        Endpoint(
            "approve refund",
            "POST",
            "/api/refund-requests/{id}/approve/",
            "/orders/refund-requests/{id}/approve/",
            "refund request",
            "decide this refund request",
        ),
        Endpoint(
            "reject refund",
            "POST",
            "/api/refund-requests/{id}/reject/",
            "/orders/refund-requests/{id}/reject/",
            "refund request",
            "decide this refund request",
        ),
    )
}

# The declared table. Per endpoint and role, the API status for each relationship, in the order
# of ORDER_RELATIONSHIPS (order endpoints) or REFUND_RELATIONSHIPS (refund-request endpoints).
EXPECTED: dict[str, dict[str, tuple[int, ...]]] = {
    #                 owner same  other
    "view order": {
        "customer": (200, 404, 404),
        "support": (200, 200, 404),
        "manager": (200, 200, 404),
        "admin": (200, 200, 200),
    },
    "pay order": {
        "customer": (200, 404, 404),
        "support": (403, 403, 404),
        "manager": (403, 403, 404),
        "admin": (403, 403, 403),
    },
    "cancel order": {
        "customer": (200, 404, 404),
        "support": (403, 403, 404),
        "manager": (403, 403, 404),
        "admin": (403, 403, 403),
    },
    "request refund": {
        "customer": (201, 404, 404),
        "support": (201, 201, 404),
        "manager": (403, 403, 404),
        "admin": (403, 403, 403),
    },
    #                          owner same  other own request
    "view refund request": {
        "customer": (200, 404, 404, 200),
        "support": (200, 200, 404, 200),
        "manager": (200, 200, 404, 200),
        "admin": (200, 200, 200, 200),
    },
    "approve refund": {
        "customer": (403, 404, 404, 403),
        "support": (403, 403, 404, 403),
        "manager": (403, 200, 404, 403),  # owner / own request: separation of duties
        "admin": (403, 200, 200, 403),
    },
    "reject refund": {
        "customer": (403, 404, 404, 403),
        "support": (403, 403, 404, 403),
        "manager": (403, 200, 404, 403),
        "admin": (403, 200, 200, 403),
    },
}


def relationships_of(endpoint: Endpoint) -> tuple[str, ...]:
    return REFUND_RELATIONSHIPS if endpoint.target == "refund request" else ORDER_RELATIONSHIPS


def expected_status(endpoint: Endpoint, role: str, relationship: str) -> int:
    return EXPECTED[endpoint.name][role][relationships_of(endpoint).index(relationship)]


def test_the_table_covers_every_endpoint_role_and_relationship():
    assert set(EXPECTED) == set(ENDPOINTS)
    for name, row in EXPECTED.items():
        assert set(row) == set(ROLES), name
        for statuses in row.values():
            assert len(statuses) == len(relationships_of(ENDPOINTS[name])), name


# --- The world of one case ------------------------------------------------------------


def make_principal(role: str) -> User:
    return UserFactory(role=role, region="" if role == Role.ADMIN else Region.EU)


def home_region(user: User) -> str:
    return user.region or Region.EU


def build_target(endpoint: Endpoint, principal: User, relationship: str):
    """The order or refund request the case acts on, related to the principal as named."""
    region = home_region(principal)
    if relationship == "owner" or (relationship == "own_refund_request" and principal.role == Role.CUSTOMER):
        owner = principal
    elif relationship == "other_region":
        region = Region.US
        owner = UserFactory(role=Role.CUSTOMER, region=region)
    else:
        owner = UserFactory(role=Role.CUSTOMER, region=region)
    status = Order.Status.PENDING if endpoint.target == "pending order" else Order.Status.PAID
    order = OrderFactory(owner=owner, region=region, amount=Decimal("100.00"), status=status)
    if endpoint.target != "refund request":
        return order
    # Someone other than the caller made the request, unless it is the caller's own.
    requester = principal if relationship == "own_refund_request" else UserFactory(role=Role.SUPPORT, region=region)
    return RefundRequestFactory(order=order, requested_by=requester)


def snapshot(obj) -> tuple:
    if isinstance(obj, RefundRequest):
        refund = RefundRequest.objects.select_related("order").get(pk=obj.pk)
        return (refund.status, refund.decided_by_id, refund.order.status, RefundRequest.objects.count())
    order = Order.objects.get(pk=obj.pk)
    return (order.status, RefundRequest.objects.filter(order=order).count(), Order.objects.count())


def assert_effect(endpoint: Endpoint, obj, principal: User, before: tuple, succeeded: bool) -> None:
    """A refused call writes nothing; a successful one does exactly its job."""
    after = snapshot(obj)
    if not succeeded or endpoint.method == "GET":
        assert after == before, f"{endpoint.name} wrote although it answered {'ok' if succeeded else 'no'}"
        return
    if endpoint.name == "pay order":
        assert after == (Order.Status.PAID, 0, before[2])
    elif endpoint.name == "cancel order":
        assert after == (Order.Status.CANCELLED, 0, before[2])
    elif endpoint.name == "request refund":
        assert after == (Order.Status.PAID, 1, before[2])
        refund = RefundRequest.objects.get(order=obj)
        assert (refund.status, refund.requested_by_id) == (RefundRequest.Status.PENDING, principal.pk)
    elif endpoint.name == "approve refund":
        assert after == (RefundRequest.Status.APPROVED, principal.pk, Order.Status.REFUNDED, before[3])
    elif endpoint.name == "reject refund":
        assert after == (RefundRequest.Status.REJECTED, principal.pk, Order.Status.PAID, before[3])


def page_body(endpoint: Endpoint) -> dict:
    return endpoint.body or {}


# --- Cases ------------------------------------------------------------------------------


def matrix_cases():
    for endpoint in ENDPOINTS.values():
        for role in ROLES:
            for relationship in relationships_of(endpoint):
                for channel in (API, PAGE):
                    if channel == PAGE and endpoint.page_path is None:
                        continue
                    yield pytest.param(
                        endpoint,
                        role,
                        relationship,
                        channel,
                        id=f"{endpoint.name}-{role}-{relationship}-{channel}".replace(" ", "_"),
                    )


@pytest.mark.parametrize("endpoint,role,relationship,channel", list(matrix_cases()))
def test_access_matrix(endpoint: Endpoint, role: str, relationship: str, channel: str):
    principal = make_principal(role)
    obj = build_target(endpoint, principal, relationship)
    expected = expected_status(endpoint, role, relationship)
    before = snapshot(obj)
    order = obj.order if isinstance(obj, RefundRequest) else obj

    if channel == API:
        client = api_client(principal)
        response = api_call(client, endpoint.method, endpoint.api_path.format(id=obj.id), endpoint.body)
        assert response.status_code == expected, response.content
        body = response.json()
        if expected == 200:
            assert body["id"] == str(obj.id)
        elif expected == 201:
            assert body["order"] == str(order.id) and body["status"] == "pending"
        elif expected == 403:
            assert body == {
                "status": "error",
                "code": "FORBIDDEN",
                "message": f"You do not have permission to {endpoint.action}",
            }
        elif expected == 404:
            assert body["status"] == "error" and body["code"] == "NOT_FOUND"
            assert str(obj.id) not in response.content.decode()
    else:
        client = page_client(principal)
        path = endpoint.page_path.format(id=obj.id)
        response = client.get(path) if endpoint.method == "GET" else client.post(path, page_body(endpoint))
        if expected in (200, 201) and endpoint.method == "POST":
            assert response.status_code == 302, response.content
            assert response["Location"] == f"/orders/{order.id}/"
        else:
            assert response.status_code == expected, response.content
            html = response.content.decode()
            assert response["Content-Type"].startswith("text/html")
            if expected == 200:
                assert str(order.id) in html
            elif expected == 403:
                assert "Access denied" in html and f"You do not have permission to {endpoint.action}" in html
            elif expected == 404:
                assert "Page not found" in html and str(obj.id) not in html
    assert_effect(endpoint, obj, principal, before, succeeded=expected in (200, 201))


# --- Anonymous callers ------------------------------------------------------------------------


ANONYMOUS_CASES = [
    pytest.param(endpoint, channel, id=f"{endpoint.name}-{channel}".replace(" ", "_"))
    for endpoint in ENDPOINTS.values()
    for channel in (API, PAGE)
    if channel == API or endpoint.page_path is not None
]


@pytest.mark.parametrize("endpoint,channel", ANONYMOUS_CASES)
def test_anonymous_caller(endpoint: Endpoint, channel: str):
    obj = build_target(endpoint, UserFactory(role=Role.CUSTOMER, region=Region.EU), "owner")
    before = snapshot(obj)
    client = Client()
    if channel == API:
        response = api_call(client, endpoint.method, endpoint.api_path.format(id=obj.id), endpoint.body)
        assert response.status_code == 401
        assert response.json()["code"] == "NOT_AUTHENTICATED"
        assert response["WWW-Authenticate"].startswith("Bearer")
    else:
        path = endpoint.page_path.format(id=obj.id)
        response = client.get(path) if endpoint.method == "GET" else client.post(path, page_body(endpoint))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    assert snapshot(obj) == before


# --- Lists: what is listed is exactly what may be viewed ----------------------------------------


LISTS = {
    "orders": ("/api/orders/", "view order"),
    "refund requests": ("/api/refund-requests/", "view refund request"),
}


@pytest.mark.parametrize("list_name", list(LISTS))
@pytest.mark.parametrize("role", ROLES)
def test_lists_show_exactly_what_may_be_viewed(list_name: str, role: str):
    path, view_endpoint = LISTS[list_name]
    endpoint = ENDPOINTS[view_endpoint]
    principal = make_principal(role)
    targets = {rel: build_target(endpoint, principal, rel) for rel in relationships_of(endpoint)}
    listed = {item["id"] for item in api_client(principal).get(path + "?page_size=500").json()["results"]}
    for relationship, obj in targets.items():
        expected = expected_status(endpoint, role, relationship) == 200
        assert (str(obj.id) in listed) is expected, (relationship, expected)


@pytest.mark.parametrize("role", ROLES)
def test_orders_page_lists_exactly_what_may_be_viewed(role: str):
    endpoint = ENDPOINTS["view order"]
    principal = make_principal(role)
    targets = {rel: build_target(endpoint, principal, rel) for rel in ORDER_RELATIONSHIPS}
    html = page_client(principal).get("/orders/").content.decode()
    for relationship, order in targets.items():
        expected = expected_status(endpoint, role, relationship) == 200
        assert (f"/orders/{order.id}/" in html) is expected, (relationship, expected)


# --- Users (admin only; nobody changes or deletes themselves) -----------------------------------

USER_ENDPOINTS = {
    "view user": ("GET", None, "view users"),
    "change user": ("PATCH", {"region": "US"}, "change users"),
    "delete user": ("DELETE", None, "delete users"),
}
#                 self  other
USER_EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    "view user": {"customer": (403, 403), "support": (403, 403), "manager": (403, 403), "admin": (200, 200)},
    "change user": {"customer": (403, 403), "support": (403, 403), "manager": (403, 403), "admin": (403, 200)},
    "delete user": {"customer": (403, 403), "support": (403, 403), "manager": (403, 403), "admin": (403, 204)},
}
USER_RELATIONSHIPS = ("self", "other")


def user_snapshot(user: User) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (user.email, user.role, user.region, user.is_active, user.deleted_at)


@pytest.mark.parametrize("endpoint", list(USER_ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("relationship", USER_RELATIONSHIPS)
def test_user_administration_matrix(endpoint: str, role: str, relationship: str):
    method, body, admin_action = USER_ENDPOINTS[endpoint]  # admin_action: the phrase of the 403
    principal = make_principal(role)
    target = principal if relationship == "self" else UserFactory(role=Role.MANAGER, region=Region.EU)
    expected = USER_EXPECTED[endpoint][role][USER_RELATIONSHIPS.index(relationship)]
    before = user_snapshot(target)
    response = api_call(api_client(principal), method, f"/api/users/{target.id}/", body)
    assert response.status_code == expected, response.content
    if expected == 403:
        # Non-admins are refused before any lookup; the message names the action attempted.
        assert response.json() == {
            "status": "error", "code": "FORBIDDEN", "message": f"You do not have permission to {admin_action}"
        }
        assert user_snapshot(target) == before
    elif endpoint == "view user":
        assert response.json()["id"] == str(target.id)
        assert user_snapshot(target) == before
    elif endpoint == "change user":
        assert response.json()["region"] == "US"
        assert User.objects.get(pk=target.pk).region == "US"
    else:
        assert User.objects.get(pk=target.pk).deleted_at is not None


@pytest.mark.parametrize("role", ROLES)
def test_user_list_is_admin_only(role: str):
    response = api_client(make_principal(role)).get("/api/users/")
    if role == "admin":
        assert response.status_code == 200
        assert response.json()["count"] >= 1
    else:
        assert response.status_code == 403
        assert response.json() == {
            "status": "error",
            "code": "FORBIDDEN",
            "message": "You do not have permission to view users",
        }
