"""403 denials are audited with their reason, at most DENIAL_AUDIT_RATE per actor; 404s are not."""

from __future__ import annotations

import types

import pytest
from django_ratelimit import core as ratelimit_core

from accounts.models import AuditEvent, Region
from orders.models import Order
from tests.factories import OrderFactory, RefundRequestFactory, customer, manager, support
from tests.support.clients import api_client, api_post
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_rate_window(monkeypatch):
    """Keep every hit in one rate-limit window, so a minute boundary cannot split the count."""
    monkeypatch.setattr(ratelimit_core, "time", types.SimpleNamespace(time=lambda: 1_700_000_000.0))


def denials():
    return AuditEvent.objects.filter(event=AuditEvent.Type.ACCESS_DENIED)


def test_a_403_is_audited_with_the_permission_and_the_failing_check(settings):
    settings.DENIAL_AUDIT_RATE = "20/m"
    alice = customer()
    order = OrderFactory(owner=alice, status=Order.Status.PAID)
    response = api_post(api_client(alice), f"/api/orders/{order.id}/pay/")
    assert response.status_code == 403
    event = denials().get()
    assert event.outcome == AuditEvent.Outcome.DENIED
    assert event.actor_id == alice.id
    assert event.target == f"order:{order.id}"
    assert "orders.pay_order" in event.reason
    assert "the order is not pending" in event.reason
    assert event.ip == "127.0.0.1"


def test_the_reason_names_the_rule_that_failed(settings):
    maria = manager(Region.EU)
    refund = RefundRequestFactory(order=OrderFactory(owner=customer(), status=Order.Status.PAID, amount="900.00"))
    assert api_post(api_client(maria), f"/api/refund-requests/{refund.id}/approve/").status_code == 403
    reason = denials().get().reason
    assert reason.startswith("orders.decide_refund: ")
    assert "above 500.00" in reason


def test_a_missing_role_permission_is_audited(settings):
    sam = support()
    assert api_client(sam).get("/api/users/").status_code == 403
    event = denials().get()
    assert event.actor_id == sam.id
    assert event.reason == "accounts.view_user: role support does not hold accounts.view_user"


def test_page_denials_are_audited_too():
    alice = customer()
    order = OrderFactory(owner=alice, status=Order.Status.CANCELLED)
    assert page_client(alice).post(f"/orders/{order.id}/cancel/").status_code == 403
    assert "orders.cancel_order" in denials().get().reason


def test_denials_are_rate_limited_per_actor(settings):
    settings.DENIAL_AUDIT_RATE = "2/m"
    alice, carol = customer(), customer()
    order = OrderFactory(owner=alice, status=Order.Status.PAID)
    client = api_client(alice)
    for _ in range(5):
        assert api_post(client, f"/api/orders/{order.id}/pay/").status_code == 403
    assert denials().filter(actor=alice).count() == 2
    # Another actor has a budget of their own.
    other = OrderFactory(owner=carol, status=Order.Status.PAID)
    carol_client = api_client(carol)
    for _ in range(3):
        assert api_post(carol_client, f"/api/orders/{other.id}/cancel/").status_code == 403
    assert denials().filter(actor=carol).count() == 2
    assert denials().count() == 4


def test_404s_are_not_audited(settings):
    settings.DENIAL_AUDIT_RATE = "100/m"
    alice = customer()
    hidden = OrderFactory(owner=customer(), status=Order.Status.PENDING)
    refund = RefundRequestFactory(order=OrderFactory(owner=customer(Region.US), status=Order.Status.PAID))
    client = api_client(alice)
    page = page_client(alice)
    before = set(AuditEvent.objects.values_list("id", flat=True))
    assert client.get(f"/api/orders/{hidden.id}/").status_code == 404
    assert api_post(client, f"/api/orders/{hidden.id}/pay/").status_code == 404
    assert api_post(client, f"/api/refund-requests/{refund.id}/approve/").status_code == 404
    assert page.get(f"/orders/{hidden.id}/").status_code == 404
    assert page.post(f"/orders/{hidden.id}/cancel/").status_code == 404
    assert not AuditEvent.objects.exclude(id__in=before).exists()


def test_successful_requests_are_not_audited_as_denials():
    alice = customer()
    order = OrderFactory(owner=alice)
    client = api_client(alice)
    assert client.get(f"/api/orders/{order.id}/").status_code == 200
    assert api_post(client, f"/api/orders/{order.id}/pay/").status_code == 200
    assert not denials().exists()


def test_fetching_the_api_schema_writes_no_denial(client):
    """The schema generator inspects every view; that is not somebody being refused."""
    assert client.get("/api/schema/").status_code == 200
    assert not denials().exists()


def test_a_denial_decided_under_a_services_row_lock_is_audited_too():
    """The service's transaction rolls back with the refusal; its audit row is written again after."""
    from django.core.exceptions import PermissionDenied

    from orders import services

    alice, bob = customer(Region.EU), customer(Region.EU)
    order = OrderFactory(owner=alice, status=Order.Status.PENDING)
    with pytest.raises(PermissionDenied, match="You do not have permission to pay this order"):
        services.order_pay(order=order, acting_user=bob)  # no request at hand: a script, a task, a race's loser
    row = denials().get()
    assert row.actor_id == bob.pk
    assert row.target == f"order:{order.pk}"
    assert row.reason.startswith("orders.pay_order: the order belongs to someone else")
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING


def test_fetch_and_authorize_in_one_call_404s_the_invisible_and_403s_the_refused():
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from orders.selectors import order_access

    alice, bob, sam = customer(Region.EU), customer(Region.EU), support(Region.EU)
    order = OrderFactory(owner=alice, status=Order.Status.PENDING, region=Region.EU)
    with pytest.raises(Http404):
        order_access(fetched_by=bob, order_id=order.pk, perm="orders.pay_order")
    assert not denials().exists()  # a 404 is not audited
    with pytest.raises(PermissionDenied):
        order_access(fetched_by=sam, order_id=order.pk, perm="orders.pay_order")
    assert denials().get().actor_id == sam.pk
    assert order_access(fetched_by=alice, order_id=order.pk, perm="orders.pay_order") == order
