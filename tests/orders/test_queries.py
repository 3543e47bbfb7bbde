"""Queries per request stay constant: 5 orders or 500, the same number of queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region, User
from orders.models import Order, RefundRequest
from tests.factories import UserFactory, customer, manager
from tests.support.clients import api_client
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

SIZES = (5, 500)


def bulk_world(viewer: User, count: int) -> Order:
    """``count`` orders the viewer may see (owned by them or in their region), with refund requests."""
    owners = (
        [viewer]
        if viewer.role == "customer"
        else [UserFactory(role="customer", region=viewer.region) for _ in range(5)]
    )
    now = timezone.now()
    statuses = list(Order.Status)
    orders = Order.objects.bulk_create(
        Order(
            owner=owners[index % len(owners)],
            region=viewer.region,
            amount=Decimal("10.00") + index,
            currency="EUR",
            status=statuses[index % len(statuses)],
            created_at=now - timedelta(seconds=index),
        )
        for index in range(count)
    )
    RefundRequest.objects.bulk_create(
        RefundRequest(order=order, requested_by=order.owner, reason="r")
        for order in orders
        if order.status == Order.Status.PAID
    )
    # Noise the viewer may not see.
    other = UserFactory(role="customer", region=Region.US)
    Order.objects.bulk_create(
        Order(owner=other, region=Region.US, amount=Decimal("1.00"), currency="USD", created_at=now)
        for _ in range(count)
    )
    # The detail page's order: paid, with a pending request (buttons for every action are considered).
    return next(order for order in orders if order.status == Order.Status.PAID)


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured)


def requests_for(order: Order) -> dict[str, str]:
    return {
        "api list": "/api/orders/",
        "api list, largest page": "/api/orders/?page_size=500",
        "api detail": f"/api/orders/{order.id}/",
        "api refund requests": "/api/refund-requests/",
        "orders page": "/orders/",
        "order page": f"/orders/{order.id}/",
    }


@pytest.mark.parametrize("role", ["customer", "manager"])
def test_query_count_does_not_grow_with_the_data(role, django_assert_max_num_queries):
    counts: dict[int, dict[str, int]] = {}
    for size in SIZES:
        viewer = customer(Region.EU) if role == "customer" else manager(Region.EU)
        order = bulk_world(viewer, size)
        api, page = api_client(viewer), page_client(viewer)
        # Warm up each client once (first-request session bookkeeping is not the point).
        api.get("/api/me/"), page.get("/")
        counts[size] = {
            name: count_queries(page if name.endswith("page") else api, path)
            for name, path in requests_for(order).items()
        }
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
    # And the numbers are small in absolute terms too.
    viewer = customer(Region.EU) if role == "customer" else manager(Region.EU)
    order = bulk_world(viewer, SIZES[1])
    api, page = api_client(viewer), page_client(viewer)
    api.get("/api/me/"), page.get("/")
    for name, path in requests_for(order).items():
        with django_assert_max_num_queries(counts[SIZES[0]][name]):
            assert (page if name.endswith("page") else api).get(path).status_code == 200
        assert counts[SIZES[0]][name] <= 8, (name, counts[SIZES[0]][name])
