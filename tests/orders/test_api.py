"""The JSON API's contract: shapes, validation, pagination, errors, and user administration."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Region, User, UserSession
from orders.models import Order, RefundRequest
from tests.factories import PASSWORD, OrderFactory, RefundRequestFactory, admin, customer, manager, support
from tests.support.clients import api_call, api_client, api_post, error
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

ORDER_KEYS = {"id", "owner", "region", "amount", "currency", "status", "created_at"}
REFUND_KEYS = {"id", "order", "requested_by", "status", "decided_by", "reason", "created_at"}
# The contract adds ``requested_by_client`` for requests a machine client made ("Roles and the policy").
REFUND_EXTRA_KEYS = {"requested_by_client"}
USER_KEYS = {"id", "email", "name", "role", "region", "is_active"}
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def bulk_orders(owner: User, count: int, *, status: str = Order.Status.PENDING, start=None, step=timedelta(seconds=1)):
    start = start or timezone.now()
    return Order.objects.bulk_create(
        Order(
            owner=owner,
            region=owner.region or Region.EU,
            amount=Decimal("10.00") + index,
            currency="EUR",
            status=status,
            created_at=start - index * step,
        )
        for index in range(count)
    )


# --- Shapes ---------------------------------------------------------------------------


class TestShapes:
    def test_order_json(self):
        alice = customer(Region.US)
        order = OrderFactory(owner=alice, amount=Decimal("12.50"), currency="USD", status=Order.Status.PAID)
        body = api_client(alice).get(f"/api/orders/{order.id}/").json()
        assert set(body) == ORDER_KEYS
        assert body["id"] == str(order.id)
        assert body["owner"] == str(alice.id) and isinstance(body["owner"], str)
        assert body["region"] == "US"
        assert body["amount"] == "12.50"
        assert body["currency"] == "USD"
        assert body["status"] == "paid"
        assert ISO_8601.match(body["created_at"])
        assert datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")) == order.created_at

    def test_list_items_have_the_same_shape(self):
        alice = customer()
        OrderFactory(owner=alice)
        body = api_client(alice).get("/api/orders/").json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert [set(item) for item in body["results"]] == [ORDER_KEYS]

    def test_refund_request_json(self):
        alice, ada = customer(), admin()
        refund = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID), reason="Too small")
        body = api_client(alice).get(f"/api/refund-requests/{refund.id}/").json()
        assert REFUND_KEYS <= set(body) <= REFUND_KEYS | REFUND_EXTRA_KEYS
        assert body["id"] == str(refund.id)
        assert body["order"] == str(refund.order_id)
        assert body["requested_by"] == str(alice.id)
        assert body["status"] == "pending"
        assert body["decided_by"] is None
        assert body["reason"] == "Too small"
        assert ISO_8601.match(body["created_at"])

        decided = api_post(api_client(ada), f"/api/refund-requests/{refund.id}/reject/").json()
        assert decided["status"] == "rejected" and decided["decided_by"] == str(ada.id)

    def test_refund_request_made_by_a_machine_client(self):
        alice = customer()
        refund = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID))
        RefundRequest.objects.filter(pk=refund.pk).update(requested_by=None, requested_by_client="demo-service")
        body = api_client(alice).get(f"/api/refund-requests/{refund.id}/").json()
        assert body["requested_by"] is None
        assert body["requested_by_client"] == "demo-service"

    def test_user_json(self):
        ada, maria = admin(), manager(Region.EU)
        client = api_client(ada)
        body = client.get(f"/api/users/{maria.id}/").json()
        assert body == {
            "id": str(maria.id),
            "email": maria.email,
            "name": maria.name,
            "role": "manager",
            "region": "EU",
            "is_active": True,
        }
        assert client.get(f"/api/users/{ada.id}/").json()["region"] is None

    def test_errors_are_json_with_the_contract_shape(self):
        alice = customer()
        body = error(api_client(alice).get(f"/api/orders/{OrderFactory().id}/"), 404, "NOT_FOUND")
        assert set(body) == {"status", "code", "message"}
        assert "Traceback" not in json.dumps(body)


# --- Creating orders -----------------------------------------------------------------------


class TestCreateOrder:
    def test_owner_and_region_are_the_callers(self):
        bob = customer(Region.US)
        response = api_post(api_client(bob), "/api/orders/", {"amount": "12.50", "currency": "EUR"})
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == ORDER_KEYS
        assert (body["owner"], body["region"], body["amount"], body["currency"], body["status"]) == (
            str(bob.id),
            "US",
            "12.50",
            "EUR",
            "pending",
        )
        order = Order.objects.get(pk=body["id"])
        assert (order.owner_id, order.region, order.amount) == (bob.id, "US", Decimal("12.50"))

    @pytest.mark.parametrize(
        "extra",
        [
            {"owner": "00000000-0000-0000-0000-000000000001"},
            {"region": "US"},
            {"status": "paid"},
            {"colour": "red"},
            {"id": "00000000-0000-0000-0000-000000000001"},
            {"owner": "x", "region": "US", "status": "paid", "colour": "red"},
        ],
        ids=["owner", "region", "status", "unknown", "id", "all"],
    )
    def test_fields_the_client_may_not_set_are_named_and_nothing_is_written(self, extra):
        alice = customer(Region.EU)
        body = error(
            api_post(api_client(alice), "/api/orders/", {"amount": "10.00", "currency": "EUR", **extra}),
            400,
            "VALIDATION_ERROR",
        )
        assert set(extra) <= set(body["fields"])
        assert all(isinstance(messages, list) and messages for messages in body["fields"].values())
        assert Order.objects.count() == 0

    @pytest.mark.parametrize(
        "amount", ["0", "0.00", "-1.00", "-0.01", "1.005", "0.001", "1000000.01", "10000000.00", "abc", "", None]
    )
    def test_refused_amounts(self, amount):
        alice = customer()
        body = error(
            api_post(api_client(alice), "/api/orders/", {"amount": amount, "currency": "EUR"}), 400, "VALIDATION_ERROR"
        )
        assert "amount" in body["fields"]
        assert Order.objects.count() == 0

    @pytest.mark.parametrize(
        "amount,stored", [("1000000.00", "1000000.00"), ("0.01", "0.01"), ("500", "500.00"), ("12.5", "12.50")]
    )
    def test_accepted_amounts(self, amount, stored):
        alice = customer()
        response = api_post(api_client(alice), "/api/orders/", {"amount": amount, "currency": "USD"})
        assert response.status_code == 201, response.content
        assert response.json()["amount"] == stored
        assert Order.objects.get().amount == Decimal(stored)

    @pytest.mark.parametrize("currency", ["GBP", "eur", "usd", "", "EURO", None])
    def test_only_eur_and_usd(self, currency):
        alice = customer()
        body = error(
            api_post(api_client(alice), "/api/orders/", {"amount": "1.00", "currency": currency}),
            400,
            "VALIDATION_ERROR",
        )
        assert "currency" in body["fields"]
        assert Order.objects.count() == 0

    def test_missing_fields_are_named(self):
        body = error(api_post(api_client(customer()), "/api/orders/", {}), 400, "VALIDATION_ERROR")
        assert {"amount", "currency"} <= set(body["fields"])

    def test_malformed_json_is_400(self):
        client = api_client(customer())
        response = client.post(
            "/api/orders/",
            '{"amount": "1.00",',
            content_type="application/json",
            headers={"X-CSRFToken": client.cookies["csrftoken"].value},
        )
        error(response, 400, "VALIDATION_ERROR")
        assert Order.objects.count() == 0

    def test_a_json_array_is_400(self):
        client = api_client(customer())
        response = client.post(
            "/api/orders/",
            "[1, 2]",
            content_type="application/json",
            headers={"X-CSRFToken": client.cookies["csrftoken"].value},
        )
        error(response, 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize(
        "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
    )
    def test_non_json_is_415(self, content_type):
        client = api_client(customer())
        response = client.post(
            "/api/orders/",
            "amount=1.00&currency=EUR",
            content_type=content_type,
            headers={"X-CSRFToken": client.cookies["csrftoken"].value},
        )
        error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert Order.objects.count() == 0

    @pytest.mark.parametrize("make", [support, manager, admin], ids=["support", "manager", "admin"])
    def test_only_customers_create(self, make):
        body = error(
            api_post(api_client(make()), "/api/orders/", {"amount": "1.00", "currency": "EUR"}), 403, "FORBIDDEN"
        )
        assert body["message"] == "You do not have permission to create orders"
        assert Order.objects.count() == 0

    def test_unsafe_method_without_csrf_header_is_refused(self):
        client = api_login_enforcing_csrf(customer())
        response = client.post("/api/orders/", {"amount": "1.00", "currency": "EUR"}, content_type="application/json")
        error(response, 403, "CSRF_FAILED")
        assert Order.objects.count() == 0


def api_login_enforcing_csrf(user) -> Client:
    from tests.support.clients import api_login

    return api_login(Client(enforce_csrf_checks=True), user)


# --- Pagination, ordering, filters --------------------------------------------------------------


class TestPagination:
    def test_default_page_size_is_50_with_absolute_links(self):
        alice = customer()
        bulk_orders(alice, 60)
        client = api_client(alice)
        first = client.get("/api/orders/").json()
        assert first["count"] == 60
        assert len(first["results"]) == 50
        assert first["previous"] is None
        assert first["next"] == "http://testserver/api/orders/?page=2"
        second = client.get(first["next"]).json()
        assert len(second["results"]) == 10
        assert second["next"] is None
        assert second["previous"] == "http://testserver/api/orders/"
        ids = [o["id"] for o in first["results"] + second["results"]]
        assert len(set(ids)) == 60

    def test_links_keep_the_page_size_and_filter(self):
        alice = customer()
        bulk_orders(alice, 7, status=Order.Status.PAID)
        body = api_client(alice).get("/api/orders/?status=paid&page_size=3&page=2").json()
        assert len(body["results"]) == 3
        for link in (body["next"], body["previous"]):
            assert link.startswith("http://testserver/api/orders/?")
            assert "page_size=3" in link and "status=paid" in link

    def test_page_size_above_500_is_clamped(self):
        alice = customer()
        bulk_orders(alice, 505)
        client = api_client(alice)
        assert len(client.get("/api/orders/?page_size=600").json()["results"]) == 500
        assert len(client.get("/api/orders/?page_size=500").json()["results"]) == 500
        assert len(client.get("/api/orders/?page_size=499").json()["results"]) == 499

    @pytest.mark.parametrize(
        "query", ["page_size=0", "page_size=abc", "page_size=-5", "page_size=1.5", "page=0", "page=abc", "page=-1"]
    )
    def test_not_a_positive_integer_is_400(self, query):
        alice = customer()
        OrderFactory(owner=alice)
        body = error(api_client(alice).get(f"/api/orders/?{query}"), 400, "VALIDATION_ERROR")
        assert query.split("=")[0] in body["fields"]

    def test_page_past_the_end_is_404(self):
        alice = customer()
        bulk_orders(alice, 3)
        client = api_client(alice)
        assert client.get("/api/orders/?page=1").status_code == 200
        error(client.get("/api/orders/?page=2"), 404, "NOT_FOUND")
        error(client.get("/api/refund-requests/?page=2"), 404, "NOT_FOUND")

    def test_ordering_is_newest_first_then_id(self):
        alice = customer()
        now = timezone.now()
        same_time = bulk_orders(alice, 6, start=now, step=timedelta(0))
        older = bulk_orders(alice, 3, start=now - timedelta(days=1))
        newer = bulk_orders(alice, 2, start=now + timedelta(days=1))
        results = api_client(alice).get("/api/orders/").json()["results"]
        expected = sorted(
            [*same_time, *older, *newer], key=lambda o: (-o.created_at.timestamp(), str(o.id))
        )
        assert [o["id"] for o in results] == [str(o.id) for o in expected]

    def test_refund_requests_are_ordered_the_same_way(self):
        alice = customer()
        now = timezone.now()
        orders = bulk_orders(alice, 4, status=Order.Status.PAID)
        refunds = RefundRequest.objects.bulk_create(
            RefundRequest(order=o, requested_by=alice, reason="r", created_at=now - timedelta(hours=i % 2))
            for i, o in enumerate(orders)
        )
        results = api_client(alice).get("/api/refund-requests/").json()["results"]
        expected = sorted(refunds, key=lambda r: (-r.created_at.timestamp(), str(r.id)))
        assert [r["id"] for r in results] == [str(r.id) for r in expected]

    def test_status_filter(self):
        alice = customer()
        paid = bulk_orders(alice, 2, status=Order.Status.PAID)
        bulk_orders(alice, 3, status=Order.Status.PENDING)
        client = api_client(alice)
        body = client.get("/api/orders/?status=paid").json()
        assert body["count"] == 2
        assert {o["id"] for o in body["results"]} == {str(o.id) for o in paid}
        assert client.get("/api/orders/?status=refunded").json()["count"] == 0

    @pytest.mark.parametrize(
        "path", ["/api/orders/?status=shipped", "/api/refund-requests/?status=paid", "/api/orders/?status=PAID"]
    )
    def test_invalid_status_is_400(self, path):
        body = error(api_client(customer()).get(path), 400, "VALIDATION_ERROR")
        assert "status" in body["fields"]

    def test_refund_request_status_filter(self):
        alice = customer()
        pending = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID))
        RefundRequestFactory(
            order=OrderFactory(owner=alice, status=Order.Status.PAID),
            status=RefundRequest.Status.REJECTED,
            decided_at=timezone.now(),
        )
        body = api_client(alice).get("/api/refund-requests/?status=pending").json()
        assert [r["id"] for r in body["results"]] == [str(pending.id)]

    def test_filter_never_widens_the_policy(self):
        alice = customer()
        OrderFactory(owner=customer(), status=Order.Status.PAID)
        assert api_client(alice).get("/api/orders/?status=paid").json()["count"] == 0


# --- Methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("DELETE", "/api/orders/"),
        ("PUT", "/api/orders/"),
        ("PUT", "/api/orders/{order}/"),
        ("PATCH", "/api/orders/{order}/"),
        ("DELETE", "/api/orders/{order}/"),
        ("GET", "/api/orders/{order}/pay/"),
        ("GET", "/api/orders/{order}/cancel/"),
        ("GET", "/api/orders/{order}/refund-requests/"),
        ("POST", "/api/refund-requests/"),
        ("DELETE", "/api/refund-requests/{refund}/"),
        ("GET", "/api/refund-requests/{refund}/approve/"),
        ("PUT", "/api/refund-requests/{refund}/reject/"),
        ("POST", "/api/users/"),
        ("PUT", "/api/users/{user}/"),
        ("POST", "/api/users/{user}/"),
    ],
)
def test_wrong_method_is_405(method, path):
    ada = admin()
    alice = customer()
    refund = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID))
    before = (Order.objects.count(), RefundRequest.objects.count(), User.objects.count())
    url = path.format(order=refund.order_id, refund=refund.id, user=alice.id)
    response = api_call(api_client(ada), method, url, {} if method != "GET" else None)
    error(response, 405, "METHOD_NOT_ALLOWED")
    assert (Order.objects.count(), RefundRequest.objects.count(), User.objects.count()) == before


# --- Actions and their state rules, over HTTP --------------------------------------------------------


class TestActions:
    def test_pay_then_pay_again_is_403(self):
        alice = customer()
        order = OrderFactory(owner=alice)
        client = api_client(alice)
        response = api_post(client, f"/api/orders/{order.id}/pay/")
        assert response.status_code == 200 and response.json()["status"] == "paid"
        body = error(api_post(client, f"/api/orders/{order.id}/pay/"), 403, "FORBIDDEN")
        assert body["message"] == "You do not have permission to pay this order"
        body = error(api_post(client, f"/api/orders/{order.id}/cancel/"), 403, "FORBIDDEN")
        assert body["message"] == "You do not have permission to cancel this order"
        assert Order.objects.get(pk=order.pk).status == "paid"

    def test_cancel(self):
        alice = customer()
        order = OrderFactory(owner=alice)
        response = api_post(api_client(alice), f"/api/orders/{order.id}/cancel/")
        assert response.status_code == 200
        assert response.json() == {**response.json(), "id": str(order.id), "status": "cancelled"}
        assert Order.objects.get(pk=order.pk).status == "cancelled"

    def test_refund_request_lifecycle(self):
        alice, maria = customer(), manager()
        order = OrderFactory(owner=alice, status=Order.Status.PAID)
        client = api_client(alice)
        body = error(api_post(client, f"/api/orders/{order.id}/refund-requests/", {}), 400, "VALIDATION_ERROR")
        assert "reason" in body["fields"]
        body = error(
            api_post(client, f"/api/orders/{order.id}/refund-requests/", {"reason": "x" * 1001}),
            400,
            "VALIDATION_ERROR",
        )
        assert "reason" in body["fields"]
        body = error(
            api_post(client, f"/api/orders/{order.id}/refund-requests/", {"reason": "r", "status": "approved"}),
            400,
            "VALIDATION_ERROR",
        )
        assert "status" in body["fields"]
        assert RefundRequest.objects.count() == 0

        response = api_post(client, f"/api/orders/{order.id}/refund-requests/", {"reason": "Broken"})
        assert response.status_code == 201
        refund_id = response.json()["id"]
        assert response.json()["requested_by"] == str(alice.id)

        body = error(
            api_post(client, f"/api/orders/{order.id}/refund-requests/", {"reason": "Again"}), 403, "FORBIDDEN"
        )
        assert body["message"] == "You do not have permission to request a refund for this order"
        assert RefundRequest.objects.count() == 1

        response = api_post(api_client(maria), f"/api/refund-requests/{refund_id}/approve/")
        assert response.status_code == 200
        assert Order.objects.get(pk=order.pk).status == "refunded"
        body = error(
            api_post(client, f"/api/orders/{order.id}/refund-requests/", {"reason": "Third"}), 403, "FORBIDDEN"
        )
        assert RefundRequest.objects.count() == 1

    def test_refund_of_a_pending_order_is_403(self):
        alice = customer()
        order = OrderFactory(owner=alice, status=Order.Status.PENDING)
        body = error(
            api_post(api_client(alice), f"/api/orders/{order.id}/refund-requests/", {"reason": "r"}), 403, "FORBIDDEN"
        )
        assert body["message"] == "You do not have permission to request a refund for this order"
        assert RefundRequest.objects.count() == 0

    def test_deciding_a_decided_request_is_403(self):
        maria = manager()
        refund = RefundRequestFactory(order=OrderFactory(owner=customer(), status=Order.Status.PAID))
        client = api_client(maria)
        assert api_post(client, f"/api/refund-requests/{refund.id}/reject/").status_code == 200
        for action in ("approve", "reject"):
            body = error(api_post(client, f"/api/refund-requests/{refund.id}/{action}/"), 403, "FORBIDDEN")
            assert body["message"] == "You do not have permission to decide this refund request"
        refund.refresh_from_db()
        assert refund.status == "rejected" and refund.order.status == "paid"

    def test_manager_above_the_limit_is_403_but_may_view(self):
        maria = manager()
        refund = RefundRequestFactory(
            order=OrderFactory(owner=customer(), status=Order.Status.PAID, amount=Decimal("500.01"))
        )
        client = api_client(maria)
        assert client.get(f"/api/refund-requests/{refund.id}/").status_code == 200
        body = error(api_post(client, f"/api/refund-requests/{refund.id}/approve/"), 403, "FORBIDDEN")
        assert body["message"] == "You do not have permission to decide this refund request"

    def test_unknown_ids_are_404_like_invisible_ones(self):
        client = api_client(customer())
        unknown = "00000000-0000-4000-8000-000000000000"
        for path in (f"/api/orders/{unknown}/", f"/api/refund-requests/{unknown}/"):
            error(client.get(path), 404, "NOT_FOUND")
        error(api_post(client, f"/api/orders/{unknown}/pay/"), 404, "NOT_FOUND")


# --- Refund-request visibility follows the order's -------------------------------------------------------


@pytest.mark.parametrize(
    "who,visible",
    [
        ("owner", True),
        ("other customer", False),
        ("support EU", True),
        ("support US", False),
        ("manager EU", True),
        ("manager US", False),
        ("admin", True),
    ],
)
def test_refund_requests_are_visible_to_whoever_may_view_the_order(who, visible):
    alice = customer(Region.EU)
    refund = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID))
    viewer = {
        "owner": lambda: alice,
        "other customer": lambda: customer(Region.EU),
        "support EU": lambda: support(Region.EU),
        "support US": lambda: support(Region.US),
        "manager EU": lambda: manager(Region.EU),
        "manager US": lambda: manager(Region.US),
        "admin": admin,
    }[who]()
    client = api_client(viewer)
    assert (client.get(f"/api/orders/{refund.order_id}/").status_code == 200) is visible
    detail = client.get(f"/api/refund-requests/{refund.id}/")
    assert detail.status_code == (200 if visible else 404)
    listed = [r["id"] for r in client.get("/api/refund-requests/").json()["results"]]
    assert listed == ([str(refund.id)] if visible else [])


# --- Users ------------------------------------------------------------------------------------------


class TestUsers:
    def test_list_is_paginated_and_admin_only(self):
        ada = admin()
        users = [customer() for _ in range(3)]
        body = api_client(ada).get("/api/users/?page_size=2").json()
        assert body["count"] == 4
        assert len(body["results"]) == 2 and body["next"].startswith("http://testserver/api/users/?")
        assert all(set(u) == USER_KEYS for u in body["results"])
        all_ids = {u["id"] for u in api_client(ada).get("/api/users/").json()["results"]}
        assert all_ids == {str(u.id) for u in [ada, *users]}

    @pytest.mark.parametrize("make", [customer, support, manager], ids=["customer", "support", "manager"])
    def test_non_admins_are_refused_everything(self, make):
        target = customer()
        client = api_client(make())
        attempts = (
            ("GET", None, "view users"),
            ("PATCH", {"role": "admin"}, "change users"),
            ("DELETE", None, "delete users"),
        )
        for method, data, action in attempts:
            body = error(api_call(client, method, f"/api/users/{target.id}/", data), 403, "FORBIDDEN")
            assert body["message"] == f"You do not have permission to {action}"  # the action attempted
        body = error(client.get("/api/users/"), 403, "FORBIDDEN")
        assert body["message"] == "You do not have permission to view users"
        assert User.objects.get(pk=target.pk).role == "customer" and User.objects.get(pk=target.pk).deleted_at is None

    def test_nobody_promotes_themselves(self):
        maria = manager()
        error(api_call(api_client(maria), "PATCH", f"/api/users/{maria.id}/", {"role": "admin"}), 403, "FORBIDDEN")
        assert User.objects.get(pk=maria.pk).role == "manager"

    @pytest.mark.parametrize(
        "method,data,message",
        [
            ("PATCH", {"is_active": False}, "You do not have permission to change users"),
            ("PATCH", {"role": "customer"}, "You do not have permission to change users"),
            ("PATCH", {"region": "EU"}, "You do not have permission to change users"),
            ("DELETE", None, "You do not have permission to delete users"),
        ],
        ids=["deactivate", "demote", "region", "delete"],
    )
    def test_admins_cannot_change_or_delete_themselves(self, method, data, message):
        ada = admin()
        client = api_client(ada)
        body = error(api_call(client, method, f"/api/users/{ada.id}/", data), 403, "FORBIDDEN")
        assert body["message"] == message
        ada = User.objects.get(pk=ada.pk)
        assert (ada.is_active, ada.role, ada.region, ada.deleted_at) == (True, "admin", "", None)
        assert client.get("/api/me/").status_code == 200

    def test_admin_changes_another_admin(self):
        ada, other = admin(), admin()
        response = api_call(api_client(ada), "PATCH", f"/api/users/{other.id}/", {"role": "support", "region": "US"})
        assert response.status_code == 200
        assert response.json() == {**response.json(), "role": "support", "region": "US"}
        assert AuditEvent.objects.filter(event="role_changed", actor=ada, target=f"user:{other.id}").exists()

    @pytest.mark.parametrize(
        "data,field",
        [
            ({"email": "new@example.com"}, "email"),
            ({"is_superuser": True}, "is_superuser"),
            ({"role": "root"}, "role"),
            ({"region": "XX"}, "region"),
            ({"is_active": "maybe"}, "is_active"),
            ({"role": "manager", "password": "x"}, "password"),
        ],
    )
    def test_patch_bad_fields_are_400_and_change_nothing(self, data, field):
        ada, carol = admin(), customer()
        body = error(api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", data), 400, "VALIDATION_ERROR")
        assert field in body["fields"]
        fresh = User.objects.get(pk=carol.pk)
        assert (fresh.email, fresh.role, fresh.region, fresh.is_active) == (carol.email, "customer", "EU", True)

    def test_patch_nothing_is_400(self):
        ada, carol = admin(), customer()
        error(api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", {}), 400, "VALIDATION_ERROR")

    def test_deactivation_signs_the_user_out_everywhere(self):
        ada, carol = admin(), customer()
        api, page = api_client(carol), page_client(carol)
        assert api.get("/api/me/").status_code == 200 and page.get("/orders/").status_code == 200
        assert UserSession.objects.filter(user=carol).count() == 2

        response = api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", {"is_active": False})
        assert response.status_code == 200 and response.json()["is_active"] is False

        error(api.get("/api/me/"), 401, "NOT_AUTHENTICATED")
        response = page.get("/orders/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert UserSession.objects.filter(user=carol).count() == 0
        assert AuditEvent.objects.filter(event="user_deactivated", target=f"user:{carol.id}").exists()
        # Reactivation brings no session back, and the password works again.
        assert api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", {"is_active": True}).status_code == 200
        error(api.get("/api/me/"), 401, "NOT_AUTHENTICATED")
        assert api_client(carol).get("/api/me/").status_code == 200

    def test_deactivated_user_cannot_sign_in(self):
        ada, carol = admin(), customer()
        api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", {"is_active": False})
        client = Client()
        token = client.get("/api/auth/csrf/").json()["csrfToken"]
        response = client.post(
            "/api/auth/login/",
            {"email": carol.email, "password": PASSWORD},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        error(response, 401, "INVALID_CREDENTIALS")

    def test_deleting_a_user(self):
        ada, carol, maria = admin(), customer(), manager()
        order = OrderFactory(owner=carol, status=Order.Status.PAID)
        carol_client = api_client(carol)  # also writes a login_succeeded audit event
        refund_id = api_post(carol_client, f"/api/orders/{order.id}/refund-requests/", {"reason": "r"}).json()["id"]
        events_before = AuditEvent.objects.filter(actor=carol).count()
        assert events_before >= 1
        email = carol.email

        admin_client = api_client(ada)
        response = api_call(admin_client, "DELETE", f"/api/users/{carol.id}/")
        assert response.status_code == 204 and response.content == b""

        # The records stay, with the same owner id.
        order.refresh_from_db()
        assert order.owner_id == carol.id
        assert admin_client.get(f"/api/orders/{order.id}/").json()["owner"] == str(carol.id)
        refund = api_client(maria).get(f"/api/refund-requests/{refund_id}/").json()
        assert refund["requested_by"] == str(carol.id)
        assert AuditEvent.objects.filter(actor=carol).count() == events_before
        assert AuditEvent.objects.filter(event="user_deleted", target=f"user:{carol.id}").exists()

        # The account is gone for everyone.
        error(admin_client.get(f"/api/users/{carol.id}/"), 404, "NOT_FOUND")
        error(api_call(admin_client, "PATCH", f"/api/users/{carol.id}/", {"is_active": True}), 404, "NOT_FOUND")
        error(api_call(admin_client, "DELETE", f"/api/users/{carol.id}/"), 404, "NOT_FOUND")
        assert str(carol.id) not in {u["id"] for u in admin_client.get("/api/users/").json()["results"]}
        error(carol_client.get("/api/me/"), 401, "NOT_AUTHENTICATED")
        scrubbed = User.objects.get(pk=carol.pk)
        assert scrubbed.email != email and scrubbed.name == "" and not scrubbed.has_usable_password()

        # It can never sign in again.
        client = Client()
        token = client.get("/api/auth/csrf/").json()["csrfToken"]
        response = client.post(
            "/api/auth/login/",
            {"email": email, "password": PASSWORD},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        error(response, 401, "INVALID_CREDENTIALS")

        # Its email may be registered anew: a different account.
        browser = Client()
        response = browser.post(
            "/accounts/register/",
            {"email": email, "name": "Carol Again", "region": "US", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert response.status_code == 302, response.content
        newcomer = User.objects.get(email=email)
        assert newcomer.pk != carol.pk and newcomer.role == "customer" and newcomer.region == "US"
        assert browser.get("/api/orders/").json()["count"] == 0, "the new account inherits nothing"
