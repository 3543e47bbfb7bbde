"""The policy: every access rule of the project, in one place.

A rule is a list of checks on the object's attributes. Each check is written once and
gives both answers the project needs:

- ``Check.holds(obj)``: may the principal act on *this* object?
- ``Check.q()``: the same condition as a database filter, for "which objects may the
  principal see?" — lists never check objects one by one in Python.

A principal is whoever a request acts for: a user, or (OAuth client credentials) a
machine client with a role and region of its own. Anything with ``pk``, ``role``,
``region`` and ``is_active`` will do; a principal with a true ``is_machine`` is a
machine client, and the actions in ``PERSON_ONLY`` are refused to it whatever its role
(an order needs a person to own it; a refund decision needs a person to answer for it).

``restrict`` filters with the rules' ``Q`` directly, except where a check follows a
to-many relation (``refund_requests__...``): a join there would return an object once
per matching related row, so the filter goes through ``pk__in`` (a subquery, no extra
round trip), as NetBox's ``restrict`` does.

Where a new rule goes: add a builder below and list it in ``OBJECT_RULES`` under the
permission it governs; give the role the permission in ``roles.py`` (and a data
migration); the agreement test in ``tests/permissions`` then covers it automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.db.models import Manager, Model, Q, QuerySet

from accounts.models import Role
from permissions import role_table

MANAGER_REFUND_LIMIT = Decimal("500.00")

# Actions only a person may take: a machine client is refused them whatever its role.
PERSON_ONLY: dict[str, str] = {
    "orders.add_order": "an order needs a person to own it",
    "orders.pay_order": "an order needs a person to own it",
    "orders.cancel_order": "an order needs a person to own it",
    "orders.decide_refund": "a refund decision needs a person to answer for it",
}


class Principal(Protocol):
    pk: Any
    role: str
    region: str
    is_active: bool


# --- Checks and rules -------------------------------------------------------

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    # Like SQL's "= NULL", an exact check against None matches nothing (test absence with isnull).
    "exact": lambda value, expected: expected is not None and value == expected,
    "lte": lambda value, limit: value is not None and value <= limit,
    "in": lambda value, options: value in options,
    "isnull": lambda value, expected: (value is None) is expected,
}


def _resolve(obj: Any, path: list[str]) -> list[Any]:
    """Follow a ``a__b__c`` path like the ORM does; a to-many step yields every related value."""
    values = [obj]
    for step in path:
        following: list[Any] = []
        for value in values:
            if value is None:
                following.append(None)
                continue
            attribute = getattr(value, step)
            if isinstance(attribute, Manager):
                following.extend(attribute.all())
            else:
                following.append(attribute)
        values = following
    return values


@dataclass(frozen=True)
class Check:
    """One condition on an object attribute, e.g. ``status == "pending"``."""

    path: str
    op: str
    value: Any
    fails_because: str
    negate: bool = False

    def q(self) -> Q:
        if self.op == "exact" and self.value is None:
            # The ORM would read it as isnull, which across a to-many path also matches
            # objects with no related row at all: a machine client (pk None) would "own" them.
            condition = Q(pk__in=[])
        else:
            condition = Q(**{f"{self.path}__{self.op}": self.value})
        return ~condition if self.negate else condition

    def crosses_to_many(self, model: type[Model]) -> bool:
        """Does the path follow a one-to-many or many-to-many relation from ``model``?"""
        for step in self.path.split("__"):
            if step == "pk":
                return False
            field = model._meta.get_field(step)
            if field.one_to_many or field.many_to_many:
                return True
            if not field.is_relation:
                return False
            model = field.related_model
        return False

    def holds(self, obj: Model) -> bool:
        compare = OPERATORS[self.op]
        matched = any(compare(value, self.value) for value in _resolve(obj, self.path.split("__")))
        return matched is not self.negate


@dataclass(frozen=True)
class Rule:
    """Checks that together allow an action; the name says why it was allowed."""

    name: str
    checks: tuple[Check, ...] = ()

    def q(self) -> Q:
        condition = Q()
        for check in self.checks:
            condition &= check.q()
        return condition

    def first_failure(self, obj: Model) -> Check | None:
        return next((check for check in self.checks if not check.holds(obj)), None)


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


# --- Rules per permission ---------------------------------------------------


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
            "order__amount", "lte", MANAGER_REFUND_LIMIT, f"the amount is above {MANAGER_REFUND_LIMIT}, a manager's limit"
        )
        checks = (in_region(principal, "order__"), limit, pending, *separation_of_duties(principal))
        return [Rule("managers decide refunds up to the limit in own region", checks)]
    if principal.role == Role.ADMIN:
        return [Rule("admins decide any refund", (pending, *separation_of_duties(principal)))]
    return []


def not_deleted() -> Check:
    return Check("deleted_at", "isnull", True, "the account was deleted")


def view_user_rules(principal: Principal) -> list[Rule]:
    if principal.role != Role.ADMIN:
        return []
    return [Rule("admins see every account", (not_deleted(),))]


def manage_user_rules(principal: Principal) -> list[Rule]:
    if principal.role != Role.ADMIN:
        return []
    not_self = Check("pk", "exact", principal.pk, "admins cannot change or delete their own account here", negate=True)
    return [Rule("admins manage other accounts", (not_deleted(), not_self))]


OBJECT_RULES: dict[str, Callable[[Principal], list[Rule]]] = {
    "orders.view_order": view_order_rules,
    "orders.pay_order": own_pending_order_rules,
    "orders.cancel_order": own_pending_order_rules,
    "orders.request_refund": request_refund_rules,
    "orders.view_refundrequest": view_refund_request_rules,
    "orders.decide_refund": decide_refund_rules,
    "accounts.view_user": view_user_rules,
    "accounts.change_user": manage_user_rules,
    "accounts.delete_user": manage_user_rules,
}

# The model each object permission is about; any other object is refused.
OBJECT_MODELS: dict[str, str] = {
    "orders.view_order": "orders.order",
    "orders.pay_order": "orders.order",
    "orders.cancel_order": "orders.order",
    "orders.request_refund": "orders.order",
    "orders.view_refundrequest": "orders.refundrequest",
    "orders.decide_refund": "orders.refundrequest",
    "accounts.view_user": "accounts.user",
    "accounts.change_user": "accounts.user",
    "accounts.delete_user": "accounts.user",
}


# --- Decisions --------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def is_machine(principal: Principal) -> bool:
    return getattr(principal, "is_machine", False) is True


def role_permissions(principal: Principal) -> frozenset[str]:
    """The permissions the principal's role holds now, read once per principal object."""
    if not getattr(principal, "is_active", False):
        return frozenset()
    cached = getattr(principal, "_role_permissions", None)
    if cached is not None and cached[0] == principal.role:
        return cached[1]
    permissions = role_table.permissions_of(principal.role)
    narrow = getattr(principal, "narrow_permissions", None)
    if narrow is not None:
        permissions = narrow(permissions)
    if is_machine(principal):
        permissions = permissions - PERSON_ONLY.keys()
    try:
        principal._role_permissions = (principal.role, permissions)
    except AttributeError:
        pass
    return permissions


def _model_label(obj: Any) -> str:
    meta = getattr(obj, "_meta", None)
    return meta.label_lower if meta is not None else ""


def decide(principal: Principal, perm: str, obj: Any = None) -> Decision:
    """May the principal do ``perm`` (on ``obj``)? With the reason either way."""
    if not getattr(principal, "is_active", False):
        return Decision(False, "the account is not active")
    if perm in PERSON_ONLY and is_machine(principal):
        return Decision(False, f"a machine client is not a person: {PERSON_ONLY[perm]}")
    if perm not in role_permissions(principal):
        return Decision(False, f"role {principal.role} does not hold {perm}")
    if obj is None:
        return Decision(True, f"role {principal.role} holds {perm}")
    if OBJECT_MODELS.get(perm) != _model_label(obj):
        return Decision(False, f"{perm} does not apply to {_model_label(obj) or type(obj).__name__}")
    rules = OBJECT_RULES[perm](principal)
    failures: list[str] = []
    for rule in rules:
        failure = rule.first_failure(obj)
        if failure is None:
            return Decision(True, f"role {principal.role}: {rule.name}")
        failures.append(failure.fails_because)
    return Decision(False, "; ".join(failures) or f"no rule of role {principal.role} covers {perm} on objects")


def visible_q(principal: Principal, perm: str) -> Q | None:
    """The database filter for objects the principal may ``perm``; None means none at all."""
    if not decide(principal, perm).allowed or perm not in OBJECT_RULES:
        return None
    rules = OBJECT_RULES[perm](principal)
    if not rules:
        return None
    condition = rules[0].q()
    for rule in rules[1:]:
        condition |= rule.q()
    return condition


def restrict(queryset: QuerySet, principal: Principal, perm: str) -> QuerySet:
    """Narrow a queryset to the objects the principal may ``perm`` (NetBox's ``restrict``)."""
    condition = visible_q(principal, perm)
    if condition is None:
        return queryset.none()
    if _crosses_to_many(queryset.model, principal, perm):
        # A join across a to-many relation repeats the object per related row: filter by key.
        return queryset.filter(pk__in=queryset.model._default_manager.filter(condition).values("pk"))
    return queryset.filter(condition)


def _crosses_to_many(model: type[Model], principal: Principal, perm: str) -> bool:
    """Does a positive check of the rules follow a to-many relation? (A negated one is a subquery already.)"""
    return any(
        check.crosses_to_many(model) and not check.negate for rule in OBJECT_RULES[perm](principal) for check in rule.checks
    )

