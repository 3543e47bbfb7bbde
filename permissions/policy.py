"""The engine: decide one action, or filter a list, with the rules every app declares.

The rules themselves live with the apps they are about (``orders/policy.py``,
``accounts/policy.py``, ...), declared once per permission in :mod:`core.rules` records and
registered when the apps become ready. This module answers the two questions with them:

- :func:`decide`: may the principal do ``perm`` (on this object)? With the reason.
- :func:`restrict`: which objects may the principal ``perm``? The same rules, as one
  database filter (NetBox's ``restrict``).

A principal is whoever a request acts for: a user, or (OAuth client credentials) a
machine client with a role and region of its own. Anything with ``pk``, ``role``,
``region`` and ``is_active`` will do; a principal with a true ``is_machine`` is a
machine client, and the permissions declared ``people_only`` are refused to it whatever its role
(an order needs a person to own it; a refund decision needs a person to answer for it).

``restrict`` filters with the rules' ``Q`` directly, except where a check follows a
to-many relation (``refund_requests__...``): a join there would return an object once
per matching related row, so the filter goes through ``pk__in`` (a subquery, no extra
round trip), as NetBox's ``restrict`` does.

Where a new rule goes: in the owning app's ``policy.py``, in the record of the permission
it governs; the default grant to a role goes in the same record and in that app's data
migration. The agreement tests in ``tests/permissions`` then cover it automatically, and
``python manage.py policy`` prints it with every other rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q, QuerySet

from core.rules import Check, Permission, Principal, Rule, registry
from permissions import role_table

__all__ = [
    "Check",
    "Decision",
    "Principal",
    "Rule",
    "decide",
    "person_only",
    "restrict",
    "role_permissions",
    "visible_q",
]


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
        permissions = permissions - person_only().keys()
    try:
        # A cache on the principal object (User or ClientPrincipal), not part of the Principal protocol.
        principal._role_permissions = (principal.role, permissions)  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return permissions


def person_only() -> dict[str, str]:
    """Permission -> why only a person may use it (declared ``people_only``)."""
    return {permission.name: permission.people_only for permission in registry.permissions() if permission.people_only}


def _object_permission(perm: str) -> Permission | None:
    declared = registry.permission(perm)
    return declared if declared is not None and declared.rules is not None else None


def _rules(declared: Permission, principal: Principal) -> list[Rule]:
    """The rules of a permission from :func:`_object_permission` (which has rules) for ``principal``."""
    assert declared.rules is not None, f"{declared.name} has no object rules"
    return declared.rules(principal)


def _model_label(obj: Any) -> str:
    meta = getattr(obj, "_meta", None)
    return meta.label_lower if meta is not None else ""


def decide(principal: Principal, perm: str, obj: Any = None) -> Decision:
    """May the principal do ``perm`` (on ``obj``)? With the reason either way."""
    if not getattr(principal, "is_active", False):
        return Decision(False, "the account is not active")
    if is_machine(principal) and perm in person_only():
        return Decision(False, f"a machine client is not a person: {person_only()[perm]}")
    if perm not in role_permissions(principal):
        return Decision(False, f"role {principal.role} does not hold {perm}")
    if obj is None:
        return Decision(True, f"role {principal.role} holds {perm}")
    declared = _object_permission(perm)
    if declared is None or declared.model != _model_label(obj):
        return Decision(False, f"{perm} does not apply to {_model_label(obj) or type(obj).__name__}")
    rules = _rules(declared, principal)
    failures: list[str] = []
    for rule in rules:
        failure = rule.first_failure(obj)
        if failure is None:
            return Decision(True, f"role {principal.role}: {rule.name}")
        failures.append(failure.fails_because)
    return Decision(False, "; ".join(failures) or f"no rule of role {principal.role} covers {perm} on objects")


def _visible_rules(principal: Principal, perm: str) -> list[Rule]:
    """The rules under which the principal may ``perm`` objects; none if it may not at all."""
    declared = _object_permission(perm)
    if declared is None or not decide(principal, perm).allowed:
        return []
    return _rules(declared, principal)


def _any_of(rules: list[Rule]) -> Q:
    condition = rules[0].q()
    for rule in rules[1:]:
        condition |= rule.q()
    return condition


def visible_q(principal: Principal, perm: str) -> Q | None:
    """The database filter for objects the principal may ``perm``; None means none at all."""
    rules = _visible_rules(principal, perm)
    return _any_of(rules) if rules else None


def restrict(queryset: QuerySet, principal: Principal, perm: str) -> QuerySet:
    """Narrow a queryset to the objects the principal may ``perm`` (NetBox's ``restrict``)."""
    rules = _visible_rules(principal, perm)
    if not rules:
        return queryset.none()
    condition = _any_of(rules)
    if _crosses_to_many(queryset.model, rules):
        # A join across a to-many relation repeats the object per related row: filter by key.
        return queryset.filter(pk__in=queryset.model._default_manager.filter(condition).values("pk"))
    return queryset.filter(condition)


def _crosses_to_many(model: type[Model], rules: list[Rule]) -> bool:
    """Does a positive check of the rules follow a to-many relation? (A negated one is a subquery already.)"""
    return any(check.crosses_to_many(model) and not check.negate for rule in rules for check in rule.checks)



# The engine's own permission: the role table is shown (read-only) in the Django admin.
PERMISSIONS = (Permission("permissions.view_rolepermission", "view the role table", ("admin",)),)
