"""Services: each write locks its rows and asks the policy again under the lock."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from accounts.models import Region
from orders import services
from orders.models import Order, RefundRequest
from tests.factories import OrderFactory, RefundRequestFactory, admin, customer, manager, support


def pending_request(amount: str = "100.00") -> RefundRequest:
    order = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID, amount=Decimal(amount))
    return RefundRequestFactory(order=order)


@pytest.mark.django_db
class TestDecisions:
    def test_approval_refunds_the_order_exactly_once(self):
        maria = manager(Region.EU)
        refund = pending_request()
        result = services.refund_request_approve(refund_request=refund, acting_user=maria)
        assert result.status == RefundRequest.Status.APPROVED
        assert result.decided_by_id == maria.pk and result.decided_at is not None
        order = Order.objects.get(pk=refund.order_id)
        assert order.status == Order.Status.REFUNDED

        with pytest.raises(PermissionDenied) as refused:
            services.refund_request_approve(refund_request=refund, acting_user=manager(Region.EU))
        assert str(refused.value) == "You do not have permission to decide this refund request"
        fresh = RefundRequest.objects.get(pk=refund.pk)
        assert (fresh.status, fresh.decided_by_id) == (RefundRequest.Status.APPROVED, maria.pk)
        assert RefundRequest.objects.filter(order_id=refund.order_id, status="approved").count() == 1

    def test_rejection_leaves_the_order_paid(self):
        refund = pending_request()
        services.refund_request_reject(refund_request=refund, acting_user=admin())
        assert Order.objects.get(pk=refund.order_id).status == Order.Status.PAID
        with pytest.raises(PermissionDenied):
            services.refund_request_approve(refund_request=refund, acting_user=admin())
        assert Order.objects.get(pk=refund.order_id).status == Order.Status.PAID

    def test_a_stale_object_is_checked_again_under_the_lock(self):
        """The caller's copy says pending; the row says decided: the service refuses."""
        refund = pending_request()
        stale = RefundRequest.objects.get(pk=refund.pk)
        services.refund_request_reject(refund_request=refund, acting_user=manager(Region.EU))
        with pytest.raises(PermissionDenied):
            services.refund_request_approve(refund_request=stale, acting_user=manager(Region.EU))
        assert Order.objects.get(pk=refund.order_id).status == Order.Status.PAID

    def test_services_enforce_the_policy_themselves(self):
        refund = pending_request("500.01")
        with pytest.raises(PermissionDenied):
            services.refund_request_approve(refund_request=refund, acting_user=manager(Region.EU))
        with pytest.raises(PermissionDenied):
            services.refund_request_approve(refund_request=refund, acting_user=refund.requested_by)
        order = OrderFactory(owner=customer(Region.EU))
        with pytest.raises(PermissionDenied):
            services.order_pay(order=order, acting_user=customer(Region.EU))
        with pytest.raises(PermissionDenied):
            services.order_create(acting_user=support(Region.EU), amount=Decimal("1.00"), currency="EUR")
        assert RefundRequest.objects.get(pk=refund.pk).status == "pending"
        assert Order.objects.get(pk=order.pk).status == "pending"

    def test_stale_pay_and_cancel_are_refused(self):
        alice = customer(Region.EU)
        order = OrderFactory(owner=alice)
        stale = Order.objects.get(pk=order.pk)
        services.order_cancel(order=order, acting_user=alice)
        with pytest.raises(PermissionDenied) as refused:
            services.order_pay(order=stale, acting_user=alice)
        assert str(refused.value) == "You do not have permission to pay this order"
        assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED

    def test_second_refund_request_with_a_stale_order_is_refused(self):
        alice = customer(Region.EU)
        order = OrderFactory(owner=alice, status=Order.Status.PAID)
        stale = Order.objects.get(pk=order.pk)
        services.refund_request_create(order=order, acting_user=alice, reason="first")
        with pytest.raises(PermissionDenied):
            services.refund_request_create(order=stale, acting_user=support(Region.EU), reason="second")
        assert RefundRequest.objects.filter(order=order).count() == 1

    def test_order_create_validates(self):
        alice = customer(Region.US)
        order = services.order_create(acting_user=alice, amount=Decimal("1000000.00"), currency="USD")
        assert (order.owner_id, order.region, order.status) == (alice.pk, "US", "pending")
        from django.core.exceptions import ValidationError

        for amount in (Decimal("0"), Decimal("-1"), Decimal("1000000.01")):
            with pytest.raises(ValidationError):
                services.order_create(acting_user=alice, amount=amount, currency="USD")
        with pytest.raises(ValidationError):
            services.order_create(acting_user=alice, amount=Decimal("1"), currency="GBP")
        assert Order.objects.count() == 1


# --- Races -----------------------------------------------------------------------------
#
# transaction=True flushes every table after the test, the role -> permission rows of the data
# migration included; serialized_rollback=True restores them before each of these tests.
#
# Each racer runs in its own thread with its own connection. SQLite (a file database with
# BEGIN IMMEDIATE and a busy timeout) and PostgreSQL both make the second writer wait for the
# first, so what is tested is the services' locking and re-checking, not the database's.


def _race(calls: list) -> tuple[list, list]:
    """Run each call in its own thread, released at once; collect results and errors."""
    barrier = threading.Barrier(len(calls))
    results: list = []
    errors: list = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait(timeout=10)
            outcome = call()
            with lock:
                results.append(outcome)
        except Exception as exc:  # noqa: BLE001 - every outcome is asserted on below
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results, errors


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_managers_approving_at_once_give_one_approval_and_one_clear_refusal():
    first, second = manager(Region.EU), manager(Region.EU)
    refund = pending_request()
    # Each manager's view has already fetched the request and seen it pending, as the API does.
    seen_by_first = RefundRequest.objects.get(pk=refund.pk)
    seen_by_second = RefundRequest.objects.get(pk=refund.pk)
    assert first.has_perm("orders.decide_refund", seen_by_first)
    assert second.has_perm("orders.decide_refund", seen_by_second)

    results, errors = _race(
        [
            lambda: services.refund_request_approve(refund_request=seen_by_first, acting_user=first),
            lambda: services.refund_request_approve(refund_request=seen_by_second, acting_user=second),
        ]
    )

    assert len(results) == 1, f"results={results} errors={errors!r}"
    assert len(errors) == 1 and isinstance(errors[0], PermissionDenied), f"errors={errors!r}"
    assert str(errors[0]) == "You do not have permission to decide this refund request"
    fresh = RefundRequest.objects.select_related("order").get(pk=refund.pk)
    assert fresh.status == RefundRequest.Status.APPROVED
    assert fresh.decided_by_id == results[0].decided_by_id
    assert fresh.order.status == Order.Status.REFUNDED
    assert RefundRequest.objects.filter(order=fresh.order, status="approved").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_refund_requests_at_once_give_one_request():
    alice = customer(Region.EU)
    sam = support(Region.EU)
    order = OrderFactory(owner=alice, status=Order.Status.PAID)
    seen_by_alice = Order.objects.get(pk=order.pk)
    seen_by_sam = Order.objects.get(pk=order.pk)

    results, errors = _race(
        [
            lambda: services.refund_request_create(order=seen_by_alice, acting_user=alice, reason="race"),
            lambda: services.refund_request_create(order=seen_by_sam, acting_user=sam, reason="race"),
        ]
    )

    assert len(results) == 1, f"results={results} errors={errors!r}"
    assert len(errors) == 1 and isinstance(errors[0], PermissionDenied), f"errors={errors!r}"
    assert str(errors[0]) == "You do not have permission to request a refund for this order"
    assert RefundRequest.objects.filter(order=order).count() == 1
