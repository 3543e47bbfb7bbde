"""Who may do what with orders and refund requests: every rule about this app, declared once.

Registered from :class:`orders.apps.OrdersConfig`; the engine (``permissions``) decides
with these rules and filters lists with the same rules. Roles get these permissions by
default through ``orders/migrations/0002_grant_roles.py``; ``python manage.py policy``
prints every app's rules together.
"""

from __future__ import annotations

from decimal import Decimal

from accounts.models import Role
from core.rules import Check, Permission, Principal, Rule, Scope

MANAGER_REFUND_LIMIT = Decimal("500.00")
READ_SCOPE = "orders:read"
WRITE_SCOPE = "orders:write"


def owned_by(principal: Principal, prefix: str = "") -> Check:
    return Check(f"{prefix}owner_id", "exact", principal.pk, "the order belongs to someone else")


def in_region(principal: Principal, prefix: str = "") -> Check:
    return Check(f"{prefix}region", "exact", principal.region, "the order is outside your region")


def status_is(status: str, what: str, prefix: str = "") -> Check:
    return Check(f"{prefix}status", "exact", status, f"the {what} is not {status}")


NO_PENDING_REFUND = Check(
    "refund_requests__status", "exact", "pending", "a refund request for the order is already pending", negate=True
)


def separation_of_duties(principal: Principal) -> tuple[Check, ...]:
    return (
        Check("requested_by_id", "exact", principal.pk, "you made this refund request", negate=True),
        Check("order__owner_id", "exact", principal.pk, "you own the order", negate=True),
    )


def view_order_rules(principal: Principal, prefix: str = "") -> list[Rule]:
    if principal.role == Role.CUSTOMER:
        return [Rule("customers see their own orders", (owned_by(principal, prefix),))]
    if principal.role in (Role.SUPPORT, Role.MANAGER):
        return [Rule(f"{principal.role} sees orders in own region", (in_region(principal, prefix),))]
    if principal.role == Role.ADMIN:
        return [Rule("admins see every order")]
    return []


def view_refund_request_rules(principal: Principal) -> list[Rule]:
    return [
        Rule(f"{rule.name} and their refund requests", rule.checks)
        for rule in view_order_rules(principal, prefix="order__")
    ]


def own_pending_order_rules(principal: Principal) -> list[Rule]:
    if principal.role != Role.CUSTOMER:
        return []
    return [Rule("customers act on their own pending orders", (owned_by(principal), status_is("pending", "order")))]


def request_refund_rules(principal: Principal) -> list[Rule]:
    state = (status_is("paid", "order"), NO_PENDING_REFUND)
    if principal.role == Role.CUSTOMER:
        return [Rule("customers ask refunds of their own paid orders", (owned_by(principal), *state))]
    if principal.role == Role.SUPPORT:
        return [Rule("support asks refunds of paid orders in own region", (in_region(principal), *state))]
    return []


def decide_refund_rules(principal: Principal) -> list[Rule]:
    pending = status_is("pending", "refund request")
    if principal.role == Role.MANAGER:
        limit = Check(
            "order__amount",
            "lte",
            MANAGER_REFUND_LIMIT,
            f"the amount is above {MANAGER_REFUND_LIMIT}, a manager's limit",
        )
        checks = (in_region(principal, "order__"), limit, pending, *separation_of_duties(principal))
        return [Rule("managers decide refunds up to the limit in own region", checks)]
    if principal.role == Role.ADMIN:
        return [Rule("admins decide any refund", (pending, *separation_of_duties(principal)))]
    return []


ORDER = "orders.order"
REFUND_REQUEST = "orders.refundrequest"
EVERYONE = (Role.CUSTOMER, Role.SUPPORT, Role.MANAGER, Role.ADMIN)
NEEDS_OWNER = "an order needs a person to own it"

SCOPES = (
    Scope(READ_SCOPE, "See the orders and refund requests you can see"),
    Scope(WRITE_SCOPE, "Create, pay and cancel orders, request refunds and decide them, as far as your role allows"),
)

PERMISSIONS = (
    Permission("orders.view_order", "view orders", EVERYONE, READ_SCOPE, ORDER, view_order_rules),
    Permission("orders.add_order", "create orders", (Role.CUSTOMER,), WRITE_SCOPE, people_only=NEEDS_OWNER),
    Permission(
        "orders.pay_order", "pay this order", (Role.CUSTOMER,), WRITE_SCOPE, ORDER, own_pending_order_rules, NEEDS_OWNER
    ),
    Permission(
        "orders.cancel_order",
        "cancel this order",
        (Role.CUSTOMER,),
        WRITE_SCOPE,
        ORDER,
        own_pending_order_rules,
        NEEDS_OWNER,
    ),
    Permission(
        "orders.request_refund",
        "request a refund for this order",
        (Role.CUSTOMER, Role.SUPPORT),
        WRITE_SCOPE,
        ORDER,
        request_refund_rules,
    ),
    Permission(
        "orders.view_refundrequest",
        "view refund requests",
        EVERYONE,
        READ_SCOPE,
        REFUND_REQUEST,
        view_refund_request_rules,
    ),
    Permission(
        "orders.decide_refund",
        "decide this refund request",
        (Role.MANAGER, Role.ADMIN),
        WRITE_SCOPE,
        REFUND_REQUEST,
        decide_refund_rules,
        people_only="a refund decision needs a person to answer for it",  # the contract
    ),
)
