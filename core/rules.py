"""The vocabulary every app declares its permissions in, and the registry that holds them.

Each app that owns a permission declares it once, in its own ``policy.py``, as a
:class:`Permission` record: the permission, the phrase of its 403 message, the scope that
lets a token use it, the roles it is granted to by default, and, for a permission about
objects, the model and the rules. Its ``AppConfig.ready()`` registers the records here;
the engine in ``permissions`` reads them, and ``python manage.py policy`` prints them all.

The vocabulary lives in ``core``, below the apps, so that ``accounts`` (which the engine
itself depends on) can declare the rules about accounts the same way ``orders`` declares
the rules about orders.

A rule is a list of checks on the object's attributes. Each check is written once and
gives both answers the project needs:

- ``Check.holds(obj)``: may the principal act on *this* object?
- ``Check.q()``: the same condition as a database filter, for "which objects may the
  principal see?" — lists never check objects one by one in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import Manager, Model, Q


class Principal(Protocol):
    """Whoever a request acts for: a user, or a machine client with a role and region."""

    pk: Any
    role: str
    region: str
    is_active: bool


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


@functools.cache
def _path_crosses_to_many(model: type[Model], path: str) -> bool:
    """:meth:`Check.crosses_to_many`, kept per model and path: the schema does not change while a process runs."""
    for step in path.split("__"):
        if step == "pk":
            return False
        field = model._meta.get_field(step)
        if field.one_to_many or field.many_to_many:
            return True
        if not field.is_relation:
            return False
        related = field.related_model
        assert related is not None, f"{step} is a relation without a model"
        model = related
    return False


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
        elif self.op == "exact":
            # The ORM's default lookup, named by the path alone: the same SQL, and the ORM does not
            # first try "exact" as a field name (a third of the cost of filtering by it).
            condition = Q(**{self.path: self.value})
        else:
            condition = Q(**{f"{self.path}__{self.op}": self.value})
        return ~condition if self.negate else condition

    def crosses_to_many(self, model: type[Model]) -> bool:
        """Does the path follow a one-to-many or many-to-many relation from ``model``?"""
        return _path_crosses_to_many(model, self.path)

    def describe(self) -> str:
        """The condition in words, e.g. ``status == 'pending'`` or ``not requested_by_id == you``."""
        if self.op == "isnull":
            text = f"{self.path} is {'' if self.value else 'not '}null"
        else:
            text = f"{self.path} {({'exact': '==', 'lte': '<=', 'in': 'in'})[self.op]} {self.value}"
        return f"not {text}" if self.negate else text

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


RuleBuilder = Callable[[Principal], list[Rule]]


@dataclass(frozen=True)
class Scope:
    """What a third-party app may ask for. The permissions it covers are the ones whose
    :class:`Permission` names it; identity scopes (``openid``, ``profile``, ``email``) cover
    none and allow identity claims only."""

    name: str
    description: str


@dataclass(frozen=True)
class Permission:
    """One permission, declared once.

    ``phrase`` completes "You do not have permission to ...". ``scope`` is the scope a token
    needs to use it (``None``: no token can). ``model`` and ``rules`` make it a permission
    about objects: ``rules(principal)`` lists the rules under which the principal may act on
    an object of that model, and an empty list means on none. ``people_only`` (the reason)
    keeps it from machine clients (client credentials), whatever role they act with.
    """

    name: str
    phrase: str
    granted_to: tuple[str, ...] = ()
    scope: str | None = None
    model: str | None = None
    rules: RuleBuilder | None = None
    people_only: str = ""  # why a machine client (client credentials) never holds it, whatever its role

    @property
    def is_about_objects(self) -> bool:
        return self.model is not None

    @property
    def app_label(self) -> str:
        return self.name.split(".", 1)[0]


class Registry:
    """Every app's permissions and scopes; filled while the apps become ready."""

    def __init__(self) -> None:
        self._permissions: dict[str, Permission] = {}
        self._scopes: dict[str, Scope] = {}
        # Scope -> the permissions it covers, answered once per scope (every bearer request asks).
        self._of_scope: dict[str, frozenset[str]] = {}

    def register(self, *, permissions: Iterable[Permission] = (), scopes: Iterable[Scope] = ()) -> None:
        self._of_scope = {}
        for scope in scopes:
            self._add(self._scopes, scope.name, scope, "scope")
        for permission in permissions:
            self._add(self._permissions, permission.name, permission, "permission")

    @staticmethod
    def _add(table: dict, name: str, record: Any, kind: str) -> None:
        if table.get(name, record) != record:
            raise ValueError(f"The {kind} {name} is declared twice, differently.")
        table[name] = record

    def permission(self, name: str) -> Permission | None:
        return self._permissions.get(name)

    def permissions(self) -> list[Permission]:
        return sorted(self._permissions.values(), key=lambda permission: permission.name)

    def object_permissions(self) -> list[Permission]:
        return [permission for permission in self.permissions() if permission.is_about_objects]

    def scope(self, name: str) -> Scope | None:
        return self._scopes.get(name)

    def scopes(self) -> dict[str, Scope]:
        """Every scope, in the order the apps declared them (the consent page's order)."""
        return dict(self._scopes)

    def permissions_of_scope(self, name: str) -> frozenset[str]:
        covered = self._of_scope.get(name)
        if covered is None:
            covered = frozenset(key for key, permission in self._permissions.items() if permission.scope == name)
            if name in self._scopes:  # only declared scopes are kept: a token's unknown ones stay uncounted
                self._of_scope[name] = covered
        return covered

    def default_grants(self) -> dict[str, frozenset[str]]:
        """Role -> the permissions the apps grant it by default (their data migrations install them)."""
        grants: dict[str, set[str]] = {}
        for permission in self._permissions.values():
            for role in permission.granted_to:
                grants.setdefault(role, set()).add(permission.name)
        return {role: frozenset(names) for role, names in grants.items()}


registry = Registry()
