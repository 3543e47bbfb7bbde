"""``restrict`` never returns an object twice, even when a rule looks across a to-many relation.

A positive check on ``refund_requests__status`` filtered with the rule's ``Q`` joins the refund
requests: an order with two matching requests came back twice. Such a filter now goes through
``pk__in`` (NetBox's ``restrict`` does the same); rules on the object's own columns and on
to-one paths keep the plain filter.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region
from core.rules import Check, Rule
from orders.models import Order, RefundRequest
from orders.policy import in_region
from permissions import policy
from permissions.principals import ClientPrincipal
from tests.factories import OrderFactory, RefundRequestFactory, customer, manager
from tests.support.policy import override_rules

pytestmark = pytest.mark.django_db


def orders_with_a_rejected_request(principal) -> list[Rule]:
    rejected = Check("refund_requests__status", "exact", "rejected", "no refund request of it was rejected")
    return [Rule("managers see orders with a rejected request", (in_region(principal), rejected))]


@pytest.fixture
def to_many_rule(monkeypatch):
    override_rules(monkeypatch, "orders.view_order", orders_with_a_rejected_request)


def rejected_request(order: Order) -> RefundRequest:
    return RefundRequestFactory(
        order=order, status=RefundRequest.Status.REJECTED, decided_by=manager(Region.US), decided_at=timezone.now()
    )


def test_an_object_matched_by_several_related_rows_comes_back_once(to_many_rule):
    maria = manager(Region.EU)
    twice = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
    rejected_request(twice)
    rejected_request(twice)
    once = OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)
    rejected_request(once)
    OrderFactory(owner=customer(Region.EU), status=Order.Status.PAID)  # no rejected request
    OrderFactory(owner=customer(Region.US), status=Order.Status.PAID)  # other region

    listed = list(policy.restrict(Order.objects.all(), maria, "orders.view_order").values_list("pk", flat=True))
    one_by_one = {order.pk for order in Order.objects.all() if policy.decide(maria, "orders.view_order", order)}

    assert sorted(listed) == sorted(set(listed)), "an order came back twice"
    assert set(listed) == one_by_one == {twice.pk, once.pk}
    assert policy.restrict(Order.objects.all(), maria, "orders.view_order").count() == 2


def test_the_to_many_filter_is_one_query_with_a_subquery(to_many_rule):
    maria = manager(Region.EU)
    with CaptureQueriesContext(connection) as captured:
        list(policy.restrict(Order.objects.all(), maria, "orders.view_order"))
    orders_queries = [q["sql"] for q in captured if '"orders_order"' in q["sql"]]
    assert len(orders_queries) == 1
    assert " IN (SELECT " in orders_queries[0]


def test_rules_without_a_to_many_path_keep_the_plain_filter():
    maria = manager(Region.EU)
    sql = str(policy.restrict(Order.objects.all(), maria, "orders.view_order").query)
    assert " IN (SELECT " not in sql
    refunds = str(policy.restrict(RefundRequest.objects.all(), maria, "orders.view_refundrequest").query)
    assert " IN (SELECT " not in refunds


def test_the_path_walk_knows_to_one_from_to_many():
    assert Check("refund_requests__status", "exact", "x", "").crosses_to_many(Order)
    assert not Check("order__owner_id", "exact", "x", "").crosses_to_many(RefundRequest)
    assert not Check("pk", "exact", "x", "").crosses_to_many(Order)
    assert not Check("region", "exact", "x", "").crosses_to_many(Order)


def orders_i_asked_a_refund_of(principal) -> list[Rule]:
    asked = Check("refund_requests__requested_by_id", "exact", principal.pk, "you asked no refund of it")
    return [Rule("orders I asked a refund of", (asked,))]


def test_a_principal_without_a_key_matches_no_ones_rows_across_a_to_many_path(monkeypatch):
    """Found by the property tests: ``exact None`` became ``isnull`` in the ORM, and a LEFT JOIN
    matched every order without a refund request for a machine client (pk None), while
    ``decide()`` said no. An exact check against None now matches nothing, on both sides."""
    override_rules(monkeypatch, "orders.view_order", orders_i_asked_a_refund_of)
    machine = ClientPrincipal(client_id="m", role="support", region=Region.EU, scopes=("orders:read",))
    OrderFactory(owner=customer(Region.EU))  # no refund request
    RefundRequestFactory(requested_by=None, requested_by_client="m")  # a machine client's request

    listed = list(policy.restrict(Order.objects.all(), machine, "orders.view_order"))

    assert listed == []
    assert not any(policy.decide(machine, "orders.view_order", order) for order in Order.objects.all())
