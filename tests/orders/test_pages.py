"""The order pages: lists through the policy, buttons only where allowed, every POST checked anyway."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Region, User
from orders.models import Order, RefundRequest
from tests.factories import OrderFactory, RefundRequestFactory, admin, customer, manager, support
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

BUTTONS = ("Pay order", "Cancel order", "Request refund", "Approve refund", "Reject refund")
DETAIL_LINK = re.compile(r'href="/orders/([0-9a-f-]{36})/"')


def listed(html: str) -> list[str]:
    return DETAIL_LINK.findall(html)


def buttons(html: str) -> set[str]:
    return {text for text in BUTTONS if f">{text}</button>" in html}


def bulk_orders(owner: User, count: int, status: str = Order.Status.PENDING) -> list[Order]:
    now = timezone.now()
    return Order.objects.bulk_create(
        Order(
            owner=owner,
            region=owner.region,
            amount=Decimal("5.00"),
            currency="EUR",
            status=status,
            created_at=now - timedelta(minutes=i),
        )
        for i in range(count)
    )


# --- The list ----------------------------------------------------------------------------


class TestOrderList:
    def test_shows_only_viewable_orders(self):
        alice = customer(Region.EU)
        own = bulk_orders(alice, 3)
        bulk_orders(customer(Region.EU), 2)
        bulk_orders(customer(Region.US), 2)
        html = page_client(alice).get("/orders/").content.decode()
        assert sorted(listed(html)) == sorted(str(o.id) for o in own)
        assert "3 orders you may see" in html

    def test_staff_list_is_their_region(self):
        eu = bulk_orders(customer(Region.EU), 3) + bulk_orders(customer(Region.EU), 1)
        bulk_orders(customer(Region.US), 4)
        html = page_client(support(Region.EU)).get("/orders/").content.decode()
        assert sorted(listed(html)) == sorted(str(o.id) for o in eu)

    def test_is_paginated_newest_first(self):
        alice = customer()
        orders = bulk_orders(alice, 25)  # newest first already
        client = page_client(alice)
        first = client.get("/orders/").content.decode()
        assert listed(first) == [str(o.id) for o in orders[:20]]
        assert "Page 1 of 2" in first and "?page=2" in first
        second = client.get("/orders/?page=2").content.decode()
        assert listed(second) == [str(o.id) for o in orders[20:]]
        assert "Page 2 of 2" in second

    def test_status_filter(self):
        alice = customer()
        paid = bulk_orders(alice, 2, Order.Status.PAID)
        bulk_orders(alice, 3, Order.Status.PENDING)
        html = page_client(alice).get("/orders/?status=paid").content.decode()
        assert sorted(listed(html)) == sorted(str(o.id) for o in paid)
        assert '<option value="paid" selected>' in html

    def test_status_filter_never_widens_the_policy(self):
        alice = customer()
        bulk_orders(customer(), 2, Order.Status.PAID)
        assert listed(page_client(alice).get("/orders/?status=paid").content.decode()) == []

    def test_new_order_link_only_for_those_who_may_create(self):
        assert "/orders/new/" in page_client(customer()).get("/orders/").content.decode()
        assert "/orders/new/" not in page_client(manager()).get("/orders/").content.decode()


# --- The detail page: buttons follow the policy ------------------------------------------------------


def detail_buttons(user: User, order: Order) -> set[str]:
    response = page_client(user).get(f"/orders/{order.id}/")
    assert response.status_code == 200
    return buttons(response.content.decode())


class TestDetailButtons:
    def test_owner_of_a_pending_order_may_pay_and_cancel(self):
        alice = customer()
        assert detail_buttons(alice, OrderFactory(owner=alice)) == {"Pay order", "Cancel order"}

    def test_owner_of_a_paid_order_may_request_a_refund(self):
        alice = customer()
        assert detail_buttons(alice, OrderFactory(owner=alice, status=Order.Status.PAID)) == {"Request refund"}

    @pytest.mark.parametrize("status", [Order.Status.CANCELLED, Order.Status.REFUNDED])
    def test_no_buttons_on_a_closed_order(self, status):
        alice = customer()
        assert detail_buttons(alice, OrderFactory(owner=alice, status=status)) == set()

    def test_no_second_refund_request_button_while_one_is_pending(self):
        alice = customer()
        refund = RefundRequestFactory(order=OrderFactory(owner=alice, status=Order.Status.PAID))
        assert detail_buttons(alice, refund.order) == set()

    def test_support_may_request_a_refund_but_not_pay(self):
        order = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
        assert detail_buttons(support(Region.EU), order) == {"Request refund"}
        assert detail_buttons(support(Region.EU), OrderFactory(owner=customer(Region.EU))) == set()

    def test_manager_decides_within_the_limit(self):
        small = RefundRequestFactory(
            order=OrderFactory(owner=customer(), status=Order.Status.PAID, amount=Decimal("500.00"))
        )
        large = RefundRequestFactory(
            order=OrderFactory(owner=customer(), status=Order.Status.PAID, amount=Decimal("500.01"))
        )
        maria = manager(Region.EU)
        assert detail_buttons(maria, small.order) == {"Approve refund", "Reject refund"}
        assert detail_buttons(maria, large.order) == set()

    def test_no_decide_buttons_on_a_request_you_made(self):
        maria = manager(Region.EU)
        refund = RefundRequestFactory(
            order=OrderFactory(owner=customer(), status=Order.Status.PAID), requested_by=maria
        )
        assert detail_buttons(maria, refund.order) == set()
        assert detail_buttons(manager(Region.EU), refund.order) == {"Approve refund", "Reject refund"}

    def test_admin_decides_any_amount_but_not_on_own_order(self):
        ada = admin()
        large = RefundRequestFactory(
            order=OrderFactory(owner=customer(Region.US), status=Order.Status.PAID, amount=Decimal("9000.00"))
        )
        assert detail_buttons(ada, large.order) == {"Approve refund", "Reject refund"}
        own = RefundRequestFactory(
            order=OrderFactory(owner=ada, region=Region.EU, status=Order.Status.PAID), requested_by=support()
        )
        assert detail_buttons(ada, own.order) == set()

    def test_no_buttons_on_a_decided_request(self):
        refund = RefundRequestFactory(
            order=OrderFactory(owner=customer(), status=Order.Status.PAID),
            status=RefundRequest.Status.REJECTED,
            decided_at=timezone.now(),
        )
        assert detail_buttons(manager(Region.EU), refund.order) == set()


# --- Forged POSTs are refused whatever the page showed -----------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "customer pays a paid order",
        "customer cancels a cancelled order",
        "customer refunds a pending order",
        "customer approves own request",
        "support pays",
        "manager approves above the limit",
        "manager rejects own request",
        "admin cancels",
    ],
)
def test_forged_posts_are_refused_with_403(case):
    alice = customer(Region.EU)
    maria = manager(Region.EU)
    build = {
        "customer pays a paid order": lambda: (alice, "/orders/{o}/pay/", OrderFactory(owner=alice, status="paid")),
        "customer cancels a cancelled order": lambda: (
            alice,
            "/orders/{o}/cancel/",
            OrderFactory(owner=alice, status="cancelled"),
        ),
        "customer refunds a pending order": lambda: (alice, "/orders/{o}/refund-requests/", OrderFactory(owner=alice)),
        "customer approves own request": lambda: (
            alice,
            "/orders/refund-requests/{r}/approve/",
            RefundRequestFactory(order=OrderFactory(owner=alice, status="paid")),
        ),
        "support pays": lambda: (support(Region.EU), "/orders/{o}/pay/", OrderFactory(owner=alice)),
        "manager approves above the limit": lambda: (
            maria,
            "/orders/refund-requests/{r}/approve/",
            RefundRequestFactory(order=OrderFactory(owner=alice, status="paid", amount=Decimal("600.00"))),
        ),
        "manager rejects own request": lambda: (
            maria,
            "/orders/refund-requests/{r}/reject/",
            RefundRequestFactory(order=OrderFactory(owner=alice, status="paid"), requested_by=maria),
        ),
        "admin cancels": lambda: (admin(), "/orders/{o}/cancel/", OrderFactory(owner=alice)),
    }
    user, path, obj = build[case]()
    order = obj.order if isinstance(obj, RefundRequest) else obj
    before = (Order.objects.get(pk=order.pk).status, list(RefundRequest.objects.values_list("id", "status")))
    response = page_client(user).post(path.format(o=order.id, r=obj.id), {"reason": "forged"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Access denied" in html and "You do not have permission to" in html
    assert (Order.objects.get(pk=order.pk).status, list(RefundRequest.objects.values_list("id", "status"))) == before


def test_another_customers_order_is_the_404_page():
    alice = customer(Region.EU)
    other = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
    refund = RefundRequestFactory(order=OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID))
    client = page_client(alice)
    for method, path in (
        ("get", f"/orders/{other.id}/"),
        ("post", f"/orders/{other.id}/pay/"),
        ("post", f"/orders/{other.id}/refund-requests/"),
        ("post", f"/orders/refund-requests/{refund.id}/approve/"),
    ):
        response = getattr(client, method)(path, {"reason": "r"} if method == "post" else None)
        assert response.status_code == 404, path
        html = response.content.decode()
        assert "Page not found" in html and str(other.id) not in html and str(refund.id) not in html
    # Exactly like an id that was never issued.
    never = client.get("/orders/00000000-0000-4000-8000-000000000000/")
    assert never.status_code == 404 and "Page not found" in never.content.decode()
    assert RefundRequest.objects.count() == 1


# --- Successful POSTs redirect and do their job -----------------------------------------------------------


def test_pay_redirects_back_to_the_order():
    alice = customer()
    order = OrderFactory(owner=alice)
    client = page_client(alice)
    response = client.post(f"/orders/{order.id}/pay/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.id}/"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert "The order was paid." in client.get(response["Location"]).content.decode()


def test_refund_request_without_reason_writes_nothing():
    alice = customer()
    order = OrderFactory(owner=alice, status=Order.Status.PAID)
    response = page_client(alice).post(f"/orders/{order.id}/refund-requests/", {"reason": ""})
    assert response.status_code == 302
    assert RefundRequest.objects.count() == 0


def test_request_then_approve_through_the_pages():
    alice, maria = customer(), manager()
    order = OrderFactory(owner=alice, status=Order.Status.PAID)
    assert page_client(alice).post(f"/orders/{order.id}/refund-requests/", {"reason": "Broken"}).status_code == 302
    refund = RefundRequest.objects.get(order=order)
    assert (refund.requested_by_id, refund.reason) == (alice.pk, "Broken")
    response = page_client(maria).post(f"/orders/refund-requests/{refund.id}/approve/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.id}/"
    assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED


def test_new_order_page():
    alice = customer(Region.US)
    client = page_client(alice)
    assert client.get("/orders/new/").status_code == 200
    refused = client.post("/orders/new/", {"amount": "0", "currency": "EUR"})
    assert refused.status_code == 200 and Order.objects.count() == 0
    response = client.post("/orders/new/", {"amount": "12.50", "currency": "USD"})
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.id}/"
    assert (order.owner_id, order.region, order.amount, order.currency) == (alice.pk, "US", Decimal("12.50"), "USD")


@pytest.mark.parametrize("make", [support, manager, admin], ids=["support", "manager", "admin"])
def test_new_order_page_is_403_for_staff(make):
    client = page_client(make())
    assert client.get("/orders/new/").status_code == 403
    assert client.post("/orders/new/", {"amount": "1.00", "currency": "EUR"}).status_code == 403
    assert Order.objects.count() == 0


def test_pages_for_signed_in_users_are_not_cached():
    alice = customer()
    response = page_client(alice).get(f"/orders/{OrderFactory(owner=alice).id}/")
    assert response["Cache-Control"] == "no-store"
