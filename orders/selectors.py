"""Reads: always through the policy, so what the caller may not see does not exist."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order, RefundRequest
from permissions import policy


def order_list(*, fetched_by, status: str | None = None) -> QuerySet[Order]:
    orders = policy.restrict(Order.objects.all(), fetched_by, "orders.view_order")
    return orders.filter(status=status) if status else orders


def refund_request_list(*, fetched_by, status: str | None = None, order: Order | None = None) -> QuerySet[RefundRequest]:
    requests = policy.restrict(
        RefundRequest.objects.select_related("order"), fetched_by, "orders.view_refundrequest"
    )
    if order is not None:
        requests = requests.filter(order=order)
    return requests.filter(status=status) if status else requests
