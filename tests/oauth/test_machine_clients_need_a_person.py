"""A machine client (client credentials) is never a person: actions that need one are refused.

An order needs a person to own it, a refund decision a person to answer for it. The policy
refuses them to a machine client whatever its role, with the contract's 403 and an audit row,
instead of letting the request reach the model (it answered 500: "Order.owner must be a User").
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEvent, Region
from orders.models import Order
from permissions import policy
from permissions.principals import ClientPrincipal
from tests.factories import OrderFactory, customer
from tests.oauth.test_token_scopes import machine_token
from tests.support.oauth import api_get, api_post, assert_api_error

pytestmark = pytest.mark.django_db

WRITE = "orders:read orders:write"


def test_a_customer_machine_client_creating_an_order_is_403_and_audited():
    token, client_id = machine_token("customer", "EU", WRITE)

    response = api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"})

    assert_api_error(response, 403, "FORBIDDEN")
    assert response.json()["message"] == "You do not have permission to create orders"
    assert not Order.objects.exists()
    denial = AuditEvent.objects.get(event=AuditEvent.Type.ACCESS_DENIED)
    assert denial.client_id == client_id and denial.actor is None
    assert denial.reason == "orders.add_order: a machine client is not a person: an order needs a person to own it"


@pytest.mark.parametrize("role", ["customer", "support", "manager"])
def test_no_machine_client_holds_a_persons_permission(role):
    token, client_id = machine_token(role, "EU", WRITE)

    me = api_get(Client(), "/api/me/", token).json()

    assert me["client_id"] == client_id
    assert not set(me["permissions"]) & set(policy.person_only())


@pytest.mark.parametrize("perm", sorted(policy.person_only()))
@pytest.mark.parametrize("role", ["customer", "support", "manager", "admin"])
def test_the_policy_refuses_a_machine_client_every_person_only_action(role, perm):
    principal = ClientPrincipal(
        client_id="c", role=role, region="" if role == "admin" else Region.EU, scopes=tuple(WRITE.split())
    )

    decision = policy.decide(principal, perm)

    assert not decision.allowed
    assert decision.reason.startswith("a machine client is not a person")


def test_a_customer_machine_client_sees_no_order_and_cannot_pay_one():
    token, _ = machine_token("customer", "EU", WRITE)
    order = OrderFactory(owner=customer(Region.EU))

    assert api_get(Client(), "/api/orders/", token).json()["count"] == 0
    assert_api_error(api_post(Client(), f"/api/orders/{order.pk}/pay/", token), 404, "NOT_FOUND")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
