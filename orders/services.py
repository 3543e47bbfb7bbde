"""Writes on orders and refund requests.

Each service locks the rows it changes and asks the policy again under the lock, so
two requests racing on the same object cannot both pass a check made before either
wrote: two managers approving one request give one approval and one refusal. A refusal
under the lock is audited like any other (``enforce.denials_audited`` writes its row
after the transaction has rolled back).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Order, RefundRequest
from permissions import enforce
from permissions.enforce import authorize, denials_audited


def _lock_order(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)


def order_create(*, acting_user, amount: Decimal, currency: str) -> Order:
    authorize(acting_user, "orders.add_order")
    with transaction.atomic():
        order = Order(owner=acting_user, region=acting_user.region, amount=amount, currency=currency)
        order.full_clean()
        order.save()
    return order


def _order_transition(*, order: Order, acting_user, perm: str, status: str) -> Order:
    with denials_audited(), transaction.atomic():
        order = _lock_order(order)
        authorize(acting_user, perm, order)
        order.status = status
        order.full_clean()
        order.save(update_fields=["status", "updated_at"])
    return order


def order_pay(*, order: Order, acting_user) -> Order:
    return _order_transition(order=order, acting_user=acting_user, perm="orders.pay_order", status=Order.Status.PAID)


def order_cancel(*, order: Order, acting_user) -> Order:
    return _order_transition(
        order=order, acting_user=acting_user, perm="orders.cancel_order", status=Order.Status.CANCELLED
    )


def refund_request_create(*, order: Order, acting_user, reason: str) -> RefundRequest:
    try:
        with denials_audited(), transaction.atomic():
            order = _lock_order(order)
            authorize(acting_user, "orders.request_refund", order)
            refund = RefundRequest(order=order, reason=reason, **_requester(acting_user))
            refund.full_clean(validate_constraints=False)
            refund.save()
    except IntegrityError:
        # Another request for the same order won the race: it is now pending.
        raise PermissionDenied(enforce.denial_message("orders.request_refund")) from None
    return refund


def _requester(acting_user) -> dict:
    client_id = getattr(acting_user, "client_id", "")
    if client_id:
        return {"requested_by": None, "requested_by_client": client_id}
    return {"requested_by": acting_user}


def _decide(*, refund_request: RefundRequest, acting_user, status: str) -> RefundRequest:
    with denials_audited(), transaction.atomic():
        refund = RefundRequest.objects.select_for_update().select_related("order").get(pk=refund_request.pk)
        authorize(acting_user, "orders.decide_refund", refund)
        order = _lock_order(refund.order)
        if status == RefundRequest.Status.APPROVED:
            if order.status != Order.Status.PAID:
                raise PermissionDenied(enforce.denial_message("orders.decide_refund"))
            order.status = Order.Status.REFUNDED
            order.save(update_fields=["status", "updated_at"])
        refund.order = order
        refund.status = status
        refund.decided_by = acting_user
        refund.decided_at = timezone.now()
        refund.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    return refund


def refund_request_approve(*, refund_request: RefundRequest, acting_user) -> RefundRequest:
    return _decide(refund_request=refund_request, acting_user=acting_user, status=RefundRequest.Status.APPROVED)


def refund_request_reject(*, refund_request: RefundRequest, acting_user) -> RefundRequest:
    return _decide(refund_request=refund_request, acting_user=acting_user, status=RefundRequest.Status.REJECTED)
