"""Properties of the policy over random worlds (hypothesis), beside the exhaustive fixture test.

A world is a few users (any role, region, active or not, deleted or not), orders (any owner,
staff included, any region, status, amount and currency) and each order's refund requests in
a state the services can reach (several per order: rejected ones, at most one pending on a
paid order, one approved on a refunded order; made by the owner, another user or a machine
client). Principals are the world's users as a request carries them, machine clients with any
role, region and scopes, and principals whose role is outside the role table. For each world:

- ``decide()`` and ``restrict()`` agree on every object, for every object permission;
- ``restrict()`` never returns an object twice, also under rules that look across a to-many
  relation (a probe rule set stands in for a future rule);
- the API's answer follows from them: an object the principal may not view is 404, one it
  may view but not act on is 403 ``FORBIDDEN``, otherwise the action succeeds (a token's
  missing scope is 403 ``INSUFFICIENT_SCOPE`` before any lookup);
- a principal whose role is not in the role table sees nothing and may do nothing.

Each example builds its world inside a savepoint that is rolled back, so examples never see
each other's rows; tests/conftest.py holds the deterministic settings profile.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import transaction
from django.urls import resolve
from django.utils import timezone
from hypothesis import given, strategies as st
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts import sessions
from accounts.models import Region, Role, TotpDevice, User
from core.rules import Check, Rule, registry
from orders.models import MAX_AMOUNT, MIN_AMOUNT, Currency, Order, RefundRequest
from orders.policy import MANAGER_REFUND_LIMIT, READ_SCOPE, WRITE_SCOPE, in_region
from permissions import enforce, policy
from permissions.principals import ClientPrincipal
from tests.support.policy import rules_overridden

pytestmark = pytest.mark.django_db

REGIONS = list(Region.values)
ROLES = list(Role.values)
SCOPES = (READ_SCOPE, WRITE_SCOPE)
AMOUNTS = st.one_of(
    st.sampled_from([MIN_AMOUNT, Decimal("499.99"), MANAGER_REFUND_LIMIT, Decimal("500.01"), MAX_AMOUNT]),
    st.decimals(min_value=MIN_AMOUNT, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False),
)
# Roles no role table row names: they must see nothing. (No NUL: no database column holds one.)
OUTSIDE_ROLES = st.one_of(
    st.sampled_from(["", "Admin", "ADMIN", "root", "superuser", "admin ", "customer\t", "staff"]),
    st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=12).filter(lambda role: role not in ROLES),
)


# --- Worlds ------------------------------------------------------------------------------------


@st.composite
def user_specs(draw) -> dict:
    role = draw(st.sampled_from(ROLES))
    region = draw(st.sampled_from(["", *REGIONS] if role == Role.ADMIN else REGIONS))
    deleted = draw(st.booleans())
    return {"role": role, "region": region, "is_active": not deleted and draw(st.booleans()), "deleted": deleted}


@st.composite
def requester_specs(draw, users: int) -> tuple[str, int]:
    return draw(
        st.one_of(st.just(("owner", 0)), st.tuples(st.just("user"), st.integers(0, users - 1)), st.just(("client", 0)))
    )


@st.composite
def order_specs(draw, users: int) -> dict:
    status = draw(st.sampled_from(list(Order.Status.values)))
    refunds: list[dict] = []
    if status in (Order.Status.PAID, Order.Status.REFUNDED):
        for _ in range(draw(st.integers(0, 2))):
            refunds.append(
                {
                    "status": RefundRequest.Status.REJECTED,
                    "by": draw(requester_specs(users)),
                    "decider": draw(st.integers(0, users - 1)),
                }
            )
        last = RefundRequest.Status.APPROVED if status == Order.Status.REFUNDED else (
            RefundRequest.Status.PENDING if draw(st.booleans()) else None
        )
        if last is not None:
            refunds.append(
                {"status": last, "by": draw(requester_specs(users)), "decider": draw(st.integers(0, users - 1))}
            )
    return {
        "owner": draw(st.integers(0, users - 1)),
        "region": draw(st.sampled_from(REGIONS)),
        "status": status,
        "amount": draw(AMOUNTS),
        "currency": draw(st.sampled_from(list(Currency.values))),
        "refunds": refunds,
    }


@st.composite
def client_specs(draw) -> ClientPrincipal:
    role = draw(st.sampled_from(ROLES))
    region = draw(st.sampled_from(["", *REGIONS] if role == Role.ADMIN else REGIONS))
    scopes = tuple(scope for scope in SCOPES if draw(st.booleans()))
    return ClientPrincipal(client_id=f"machine-{role}-{region or 'any'}", role=role, region=region, scopes=scopes)


@st.composite
def world_specs(draw) -> dict:
    users = draw(st.lists(user_specs(), min_size=1, max_size=6))
    return {
        "users": users,
        "orders": draw(st.lists(order_specs(len(users)), min_size=1, max_size=6)),
        "clients": draw(st.lists(client_specs(), max_size=3)),
    }


@dataclass
class World:
    users: list[User]
    orders: list[Order]
    refunds: list[RefundRequest]
    clients: list[ClientPrincipal] = field(default_factory=list)

    def principals(self) -> list:
        """Every user as a request would carry it (a fresh row), and every machine client."""
        return [User.objects.get(pk=user.pk) for user in self.users] + [
            ClientPrincipal(client_id=c.client_id, role=c.role, region=c.region, scopes=c.scopes) for c in self.clients
        ]


def build(spec: dict) -> World:
    now = timezone.now()
    users = []
    for index, u in enumerate(spec["users"]):
        user = User(
            email=f"p{index}@example.com", role=u["role"], region=u["region"], is_active=u["is_active"],
            deleted_at=now if u["deleted"] else None,
        )
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    # The admin role needs a second factor (accounts.reauth.SecondFactorEnrolled): these have one.
    TotpDevice.objects.bulk_create(TotpDevice(user=u, encrypted_secret="-") for u in users if u.role == Role.ADMIN)
    orders = Order.objects.bulk_create(
        Order(
            owner=users[o["owner"]], region=o["region"], status=o["status"], amount=o["amount"], currency=o["currency"],
            created_at=now - timedelta(seconds=index),
        )
        for index, o in enumerate(spec["orders"])
    )
    refunds = []
    for order, o in zip(orders, spec["orders"], strict=True):
        for r in o["refunds"]:
            kind, who = r["by"]
            requester = (
                {"requested_by": order.owner} if kind == "owner"
                else {"requested_by": users[who]} if kind == "user"
                else {"requested_by": None, "requested_by_client": "machine"}
            )
            decided = r["status"] != RefundRequest.Status.PENDING
            refunds.append(
                RefundRequest(
                    order=order, reason="r", status=r["status"], decided_at=now if decided else None,
                    decided_by=users[r["decider"]] if decided else None, **requester,
                )
            )
    RefundRequest.objects.bulk_create(refunds)
    return World(users=users, orders=orders, refunds=refunds, clients=list(spec["clients"]))


def in_rolled_back_world(spec: dict, check) -> None:
    """Build the world in a savepoint, run ``check(world)``, roll the world back."""
    with transaction.atomic():
        check(build(spec))
        transaction.set_rollback(True)


def all_objects(model_label: str) -> list:
    if model_label == "orders.order":
        return list(Order.objects.prefetch_related("refund_requests"))
    if model_label == "orders.refundrequest":
        return list(RefundRequest.objects.select_related("order").prefetch_related("order__refund_requests"))
    return list(apps.get_model(model_label).objects.all())


def describe(principal) -> str:
    return (
        str(principal) if isinstance(principal, ClientPrincipal) else f"user {principal.role}/{principal.region or '-'}"
    )


# --- decide() and restrict() agree -------------------------------------------------------------


@given(world_specs())
def test_decide_and_restrict_agree_on_every_object_for_every_permission(spec):
    def check(world: World) -> None:
        objects = {
            label: all_objects(label) for label in {permission.model for permission in registry.object_permissions()}
        }
        for principal in world.principals():
            for perm, label in ((p.name, p.model) for p in registry.object_permissions()):
                model = apps.get_model(label)
                one_by_one = {obj.pk for obj in objects[label] if policy.decide(principal, perm, obj).allowed}
                listed = list(policy.restrict(model.objects.all(), principal, perm).values_list("pk", flat=True))
                assert len(listed) == len(set(listed)), f"{perm}: restrict repeated an object for {describe(principal)}"
                assert set(listed) == one_by_one, f"{perm} for {describe(principal)}"

    in_rolled_back_world(spec, check)


def to_many_probe(principal) -> list[Rule]:
    """Rules that look across a to-many relation, as a future rule might (the current ones do not)."""
    asked = Check("refund_requests__requested_by_id", "exact", principal.pk, "you asked no refund of it")
    rejected = Check("refund_requests__status", "exact", "rejected", "no refund request of it was rejected")
    return [
        Rule("orders I asked a refund of", (asked,)),
        Rule("rejected in my region", (in_region(principal), rejected)),
    ]


@given(world_specs())
def test_decide_and_restrict_agree_across_to_many_relations(spec):
    def check(world: World) -> None:
        with rules_overridden("orders.view_order", to_many_probe):
            orders = all_objects("orders.order")
            for principal in world.principals():
                one_by_one = {o.pk for o in orders if policy.decide(principal, "orders.view_order", o).allowed}
                listed = list(
                    policy.restrict(Order.objects.all(), principal, "orders.view_order").values_list("pk", flat=True)
                )
                assert len(listed) == len(set(listed)), f"restrict repeated an order for {describe(principal)}"
                assert set(listed) == one_by_one, describe(principal)

    in_rolled_back_world(spec, check)


@given(
    world_specs(),
    st.lists(st.tuples(OUTSIDE_ROLES, st.sampled_from(["", *REGIONS]), st.booleans()), min_size=1, max_size=4),
)
def test_a_principal_outside_the_role_table_sees_nothing_and_may_do_nothing(spec, outsiders):
    def check(world: World) -> None:
        objects = {
            label: all_objects(label) for label in {permission.model for permission in registry.object_permissions()}
        }
        for role, region, is_machine in outsiders:
            if is_machine:
                principal = ClientPrincipal(client_id="outsider", role=role, region=region, scopes=SCOPES)
            else:
                # A user row whose role was changed behind the database's back (the constraint forbids storing it).
                principal = User.objects.get(pk=world.users[0].pk)
                principal.role, principal.region, principal.is_active = role, region, True
            assert policy.role_permissions(principal) == frozenset()
            for perm, label in ((p.name, p.model) for p in registry.object_permissions()):
                model = apps.get_model(label)
                assert not policy.restrict(model.objects.all(), principal, perm).exists(), (role, perm)
                assert not any(policy.decide(principal, perm, obj).allowed for obj in objects[label]), (role, perm)
                assert not policy.decide(principal, perm).allowed

    in_rolled_back_world(spec, check)


# --- The API's 404/403 split follows from decide() and restrict() --------------------------------

# (method, path, the permission the action needs, body): the view permission decides 404 first.
ORDER_ACTIONS = [
    ("GET", "/api/orders/{id}/", "orders.view_order", None),
    ("POST", "/api/orders/{id}/pay/", "orders.pay_order", {}),
    ("POST", "/api/orders/{id}/cancel/", "orders.cancel_order", {}),
    ("POST", "/api/orders/{id}/refund-requests/", "orders.request_refund", {"reason": "Broken"}),
]
REFUND_ACTIONS = [
    ("GET", "/api/refund-requests/{id}/", "orders.view_refundrequest", None),
    ("POST", "/api/refund-requests/{id}/approve/", "orders.decide_refund", {}),
    ("POST", "/api/refund-requests/{id}/reject/", "orders.decide_refund", {}),
]
SUCCESS = {"GET": 200, "POST": (200, 201)}
factory = APIRequestFactory()


def call(principal, method: str, path: str, body: dict | None):
    """Call the API view for ``path`` as ``principal``, in a savepoint rolled back afterwards."""
    request = factory.generic(
        method, path, json.dumps(body) if body is not None else "", content_type="application/json"
    )
    token = SimpleNamespace(scope=" ".join(principal.scopes)) if isinstance(principal, ClientPrincipal) else None
    force_authenticate(request, user=principal, token=token)
    request.session = {sessions.VERIFIED_AT: time.time()}  # a session that just signed in (step-up is fresh)
    match = resolve(path)
    with transaction.atomic():
        response = match.func(request, *match.args, **match.kwargs)
        transaction.set_rollback(True)
    return response


def expected(principal, method: str, view_perm: str, perm: str, obj) -> tuple[int, str | None]:
    if isinstance(principal, ClientPrincipal):
        needed = READ_SCOPE if method == "GET" else WRITE_SCOPE
        if needed not in principal.scopes:
            return 403, "INSUFFICIENT_SCOPE"
    if not policy.decide(principal, view_perm, obj).allowed:
        return 404, "NOT_FOUND"
    if not policy.decide(principal, perm, obj).allowed:
        return 403, "FORBIDDEN"
    return 200, None


USER_ACTIONS = [
    ("GET", "accounts.view_user", None),
    ("PATCH", "accounts.change_user", "keep"),
    ("DELETE", "accounts.delete_user", None),
]


def assert_create_follows_from_the_policy(principal) -> None:
    """POST /api/orders/: no object, so 403 or 201 (a machine client is never an order's owner)."""
    response = call(principal, "POST", "/api/orders/", {"amount": "12.50", "currency": "EUR"})
    if isinstance(principal, ClientPrincipal) and WRITE_SCOPE not in principal.scopes:
        assert (response.status_code, response.data["code"]) == (403, "INSUFFICIENT_SCOPE")
    elif policy.decide(principal, "orders.add_order").allowed:
        assert response.status_code == 201, (describe(principal), response.data)
        assert response.data["owner"] == str(principal.pk)
    else:
        assert (response.status_code, response.data["code"]) == (403, "FORBIDDEN"), (describe(principal), response.data)
        assert response.data["message"] == "You do not have permission to create orders"


def assert_user_administration_follows_from_the_policy(principal, target: User) -> None:
    """The users API: no token at all; a role without the action 403 before lookup; then 404; then 403."""
    for method, perm, body in USER_ACTIONS:
        response = call(
            principal, method, f"/api/users/{target.pk}/", {"is_active": target.is_active} if body else None
        )
        where = f"{method} /api/users/ as {describe(principal)}"
        if isinstance(principal, ClientPrincipal):
            assert (response.status_code, response.data["code"]) == (403, "INSUFFICIENT_SCOPE"), where
        elif not policy.decide(principal, perm).allowed:
            assert (response.status_code, response.data["code"]) == (403, "FORBIDDEN"), where
            assert response.data["message"] == enforce.denial_message(perm)
        elif not policy.decide(principal, "accounts.view_user", target).allowed:
            assert (response.status_code, response.data["code"]) == (404, "NOT_FOUND"), where
        elif not policy.decide(principal, perm, target).allowed:
            assert (response.status_code, response.data["code"]) == (403, "FORBIDDEN"), where
        else:
            assert response.status_code == (204 if method == "DELETE" else 200), (where, response.data)


@given(world_specs())
def test_the_apis_404_and_403_follow_from_the_policy(spec):
    def check(world: World) -> None:
        principals = [p for p in world.principals() if p.is_active]
        targets = [
            (ORDER_ACTIONS, "orders.view_order", order) for order in Order.objects.prefetch_related("refund_requests")
        ]
        targets += [
            (REFUND_ACTIONS, "orders.view_refundrequest", refund)
            for refund in RefundRequest.objects.select_related("order").prefetch_related("order__refund_requests")
        ]
        users = list(User.objects.all())
        for principal in principals:
            assert_create_follows_from_the_policy(principal)
            for target in users:
                assert_user_administration_follows_from_the_policy(principal, target)
            visible_orders = set(
                policy.restrict(Order.objects.all(), principal, "orders.view_order").values_list("pk", flat=True)
            )
            for actions, view_perm, obj in targets:
                if view_perm == "orders.view_order":
                    assert (obj.pk in visible_orders) == policy.decide(principal, view_perm, obj).allowed
                for method, path, perm, body in actions:
                    status, code = expected(principal, method, view_perm, perm, obj)
                    response = call(principal, method, path.format(id=obj.pk), body)
                    where = f"{method} {path} as {describe(principal)} on {obj.status}"
                    if code is None:
                        assert response.status_code in (SUCCESS[method] if method == "POST" else (200,)), (
                            where,
                            response.data,
                        )
                    else:
                        assert (response.status_code, response.data["code"]) == (status, code), (where, response.data)

    in_rolled_back_world(spec, check)


def test_the_worlds_reach_every_status_role_and_principal_kind():
    """The strategies can produce what the properties talk about (a guard against a vacuous test)."""
    seen: dict[str, set] = {"order": set(), "refund": set(), "role": set(), "client": set()}

    @given(world_specs())
    def collect(spec):
        seen["order"] |= {o["status"] for o in spec["orders"]}
        seen["refund"] |= {r["status"] for o in spec["orders"] for r in o["refunds"]}
        seen["role"] |= {u["role"] for u in spec["users"]}
        seen["client"] |= {c.role for c in spec["clients"]}

    collect()
    assert seen["order"] == set(Order.Status.values)
    assert seen["refund"] == set(RefundRequest.Status.values)
    assert seen["role"] == set(ROLES)
    assert seen["client"]
