"""The per-object answer and the list filter are one rule: they must agree on every object.

For a fixture world covering every status, region, amount and relationship, and for every
role principal and every object permission the apps declare::

    {obj for obj in all objects if user.has_perm(perm, obj)} == set(policy.restrict(all, user, perm))
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.models import Region, Role, User
from core.rules import registry
from oauth.models import PersonalToken
from orders.models import Order, RefundRequest
from permissions import policy
from permissions.principals import ClientPrincipal
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AMOUNTS = [Decimal("0.01"), Decimal("499.99"), Decimal("500.00"), Decimal("500.01"), Decimal("1000000.00")]
PRINCIPALS = [
    "customer-EU",
    "customer-US",
    "support-EU",
    "support-US",
    "manager-EU",
    "manager-US",
    "admin",
    "admin-2",
    "inactive-customer",
    "inactive-manager",
    "inactive-admin",
    # Machine clients (client credentials) act with a role and region of their own.
    "client-support-EU",
    "client-manager-US",
    "client-admin",
    "client-customer-EU",
]
ALL_SCOPES = ("orders:read", "orders:write")


def principal_named(world: dict[str, User], name: str):
    """The principal as a request would carry it: a fresh user row, or a machine client."""
    if name.startswith("client-"):
        _, role, *region = name.split("-")
        return ClientPrincipal(client_id=name, role=role, region=region[0] if region else "", scopes=ALL_SCOPES)
    return User.objects.get(pk=world[name].pk)


def build_world() -> dict[str, User]:
    """Users, orders and refund requests in every combination the rules look at."""
    now = timezone.now()
    people = {
        "customer-EU": UserFactory(role=Role.CUSTOMER, region=Region.EU),
        "customer-EU-2": UserFactory(role=Role.CUSTOMER, region=Region.EU),
        "customer-US": UserFactory(role=Role.CUSTOMER, region=Region.US),
        "support-EU": UserFactory(role=Role.SUPPORT, region=Region.EU),
        "support-US": UserFactory(role=Role.SUPPORT, region=Region.US),
        "manager-EU": UserFactory(role=Role.MANAGER, region=Region.EU),
        "manager-US": UserFactory(role=Role.MANAGER, region=Region.US),
        "admin": UserFactory(role=Role.ADMIN, region=""),
        "admin-2": UserFactory(role=Role.ADMIN, region=""),
        "inactive-customer": UserFactory(role=Role.CUSTOMER, region=Region.EU, is_active=False),
        "inactive-manager": UserFactory(role=Role.MANAGER, region=Region.EU, is_active=False),
        "inactive-admin": UserFactory(role=Role.ADMIN, region="", is_active=False),
        "deleted": UserFactory(role=Role.CUSTOMER, region=Region.EU, is_active=False, deleted_at=now),
        "deleted-admin": UserFactory(role=Role.ADMIN, region="", is_active=False, deleted_at=now),
    }
    # Owners: customers of both regions, and staff who happen to own an order (separation of duties).
    owners = [
        people[k] for k in ("customer-EU", "customer-EU-2", "customer-US", "manager-EU", "admin", "inactive-customer")
    ]
    orders = []
    for index, (owner, region, status, amount) in enumerate(
        itertools.product(owners, [Region.EU, Region.US], list(Order.Status), AMOUNTS)
    ):
        orders.append(
            Order(
                owner=owner,
                region=region,
                amount=amount,
                currency="EUR" if (index % 3) else "USD",
                status=status,
                created_at=now - timedelta(seconds=index),
            )
        )
    Order.objects.bulk_create(orders)

    requesters = [None, "owner", "support-EU", "support-US", "manager-EU", "manager-US", "admin", "admin-2"]
    refunds = []
    paid = [o for o in orders if o.status == Order.Status.PAID]
    refunded = [o for o in orders if o.status == Order.Status.REFUNDED]
    for index, order in enumerate(paid):
        requester = requesters[index % len(requesters)]
        who = (
            {"requested_by": order.owner}
            if requester == "owner"
            else (
                {"requested_by": None, "requested_by_client": "demo-service"}
                if requester is None
                else {"requested_by": people[requester]}
            )
        )
        # Every third paid order has a pending request; others have none or a rejected one.
        if index % 3 == 0:
            refunds.append(RefundRequest(order=order, reason="r", status=RefundRequest.Status.PENDING, **who))
        elif index % 3 == 1:
            refunds.append(
                RefundRequest(
                    order=order,
                    reason="r",
                    status=RefundRequest.Status.REJECTED,
                    decided_at=now,
                    decided_by=people["admin"],
                    **who,
                )
            )
            if index % 2:
                # A rejected request, and a pending one after it.
                refunds.append(RefundRequest(order=order, reason="again", status=RefundRequest.Status.PENDING, **who))
    for order in refunded:
        refunds.append(
            RefundRequest(
                order=order,
                reason="r",
                status=RefundRequest.Status.APPROVED,
                decided_at=now,
                decided_by=people["admin-2"],
                requested_by=order.owner,
            )
        )
    RefundRequest.objects.bulk_create(refunds)
    # Personal access tokens: a live and a revoked one each for a customer, a manager and an admin.
    tokens = []
    for index, owner in enumerate(people[k] for k in ("customer-EU", "manager-EU", "admin")):
        for revoked_at in (None, now):
            tokens.append(
                PersonalToken(
                    owner=owner,
                    name="t",
                    key_id=f"{index:06d}{0 if revoked_at is None else 1:06d}",
                    secret_hash="0" * 64,
                    scopes="orders:read",
                    expires_at=now + timedelta(days=1),
                    revoked_at=revoked_at,
                )
            )
    PersonalToken.objects.bulk_create(tokens)
    return people


def all_objects(model_label: str) -> list:
    model = apps.get_model(model_label)
    if model is Order:
        return list(Order.objects.prefetch_related("refund_requests"))
    if model is RefundRequest:
        return list(RefundRequest.objects.select_related("order"))
    return list(model.objects.all())


@pytest.fixture
def world() -> dict[str, User]:
    return build_world()


def test_the_world_covers_every_combination(world):
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    assert set(Order.objects.values_list("region", flat=True)) == set(Region.values)
    assert set(RefundRequest.objects.values_list("status", flat=True)) == set(RefundRequest.Status.values)
    assert (
        Order.objects.filter(status=Order.Status.PAID, refund_requests__status="rejected")
        .filter(refund_requests__status="pending")
        .exists()
    )
    assert RefundRequest.objects.filter(requested_by__isnull=True).exists()
    assert RefundRequest.objects.filter(requested_by__role=Role.MANAGER, status="pending").exists()
    assert RefundRequest.objects.filter(order__owner__role=Role.ADMIN, status="pending").exists()


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_has_perm_and_restrict_agree_on_every_object(world, principal):
    user = principal_named(world, principal)
    mismatches = []
    for permission in registry.object_permissions():
        perm = permission.name
        model = apps.get_model(permission.model)
        objects = all_objects(permission.model)
        one_by_one = {obj.pk for obj in objects if user.has_perm(perm, obj)}
        filtered = set(policy.restrict(model.objects.all(), user, perm).values_list("pk", flat=True))
        if one_by_one != filtered:
            mismatches.append(
                f"{perm}: has_perm only {sorted(map(str, one_by_one - filtered))[:3]}, "
                f"restrict only {sorted(map(str, filtered - one_by_one))[:3]}"
            )
    assert mismatches == []


# Held on every object or on none, by role alone: admins see every personal token, others none.
ALL_OR_NOTHING = {"oauth.view_personaltoken"}


def test_the_agreement_is_not_trivial(world):
    """Each permission is held on some objects by someone, and refused on some objects to them too."""
    for permission in registry.object_permissions():
        perm = permission.name
        model = apps.get_model(permission.model)
        total = model.objects.count()
        sizes = {
            name: policy.restrict(model.objects.all(), principal_named(world, name), perm).count()
            for name in PRINCIPALS
        }
        if perm in ALL_OR_NOTHING:
            assert total and sizes["admin"] == total and sizes["customer-EU"] == 0, (perm, sizes, total)
        else:
            assert any(0 < size < total for size in sizes.values()), (perm, sizes, total)
        for name in ("inactive-customer", "inactive-manager", "inactive-admin"):
            assert sizes[name] == 0, (perm, name)


def test_restrict_serves_the_selectors(world):
    """Lists are the same filter: orders.selectors narrows through the policy."""
    from orders import selectors

    maria = User.objects.get(pk=world["manager-EU"].pk)
    assert set(selectors.order_list(fetched_by=maria)) == set(Order.objects.filter(region=Region.EU))
    alice = User.objects.get(pk=world["customer-EU"].pk)
    assert set(selectors.refund_request_list(fetched_by=alice)) == set(RefundRequest.objects.filter(order__owner=alice))
