"""Reads: always through the policy, so what the caller may not see does not exist.

``order_access`` and ``refund_request_access`` fetch one object and authorize an action on
it in one call (404 for what the caller may not view, 403 and an audit row for an action
refused): every page, API view and service that acts on one object starts with them.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest

from orders.models import Order, RefundRequest
from permissions import policy
from permissions.enforce import fetch_authorized


def order_list(*, fetched_by, status: str | None = None) -> QuerySet[Order]:
    orders = policy.restrict(Order.objects.all(), fetched_by, "orders.view_order")
    return orders.filter(status=status) if status else orders


def refund_request_list(
    *, fetched_by, status: str | None = None, order: Order | None = None
) -> QuerySet[RefundRequest]:
    requests = policy.restrict(
        RefundRequest.objects.select_related("order"), fetched_by, "orders.view_refundrequest"
    )
    if order is not None:
        requests = requests.filter(order=order)
    return requests.filter(status=status) if status else requests


def order_access(*, fetched_by, order_id, perm: str = "orders.view_order", request: HttpRequest | None = None) -> Order:
    """The order if ``fetched_by`` may view it (404 otherwise) and may ``perm`` it (403 otherwise)."""
    return fetch_authorized(
        Order.objects.all(),
        fetched_by=fetched_by,
        view_perm="orders.view_order",
        pk=order_id,
        perm=perm,
        request=request,
    )


def refund_request_access(
    *, fetched_by, refund_id, perm: str = "orders.view_refundrequest", request: HttpRequest | None = None
) -> RefundRequest:
    """The refund request if ``fetched_by`` may view it (404 otherwise) and may ``perm`` it (403 otherwise)."""
    return fetch_authorized(
        RefundRequest.objects.select_related("order"),
        fetched_by=fetched_by,
        view_perm="orders.view_refundrequest",
        pk=refund_id,
        perm=perm,
        request=request,
    )
