"""System checks that keep the declared policy whole (``manage.py check``, every test run).

- ``permissions.E001``: a permission about objects without rules, or rules without a model.
- ``permissions.E002``: a permission names a scope that no app declares.
- ``permissions.E003``: a role is granted, by default, a permission no app declares, or an
  object permission under which no rule lets that role act on any object.
- ``permissions.E004`` (database checks, e.g. ``migrate`` or ``check --database default``):
  the same as E003 for the role table as installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

from django.core import checks
from django.db import DatabaseError

from accounts.models import Role
from core.rules import Permission, registry


def register() -> None:
    checks.register(check_declarations, "permissions")
    checks.register(check_installed_roles, "permissions", checks.Tags.database)


def _sample_principal(role: str) -> SimpleNamespace:
    return SimpleNamespace(pk=None, role=role, region="", is_active=True)


def _grant_errors(grants: Iterable[tuple[str, str]], *, where: str, code: str) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for role, perm in sorted(set(grants)):
        declared = registry.permission(perm)
        if declared is None:
            errors.append(checks.Error(f"{where} grants role {role} {perm}, which no app declares.", id=code))
        elif declared.rules is not None and not declared.rules(_sample_principal(role)):
            errors.append(
                checks.Error(
                    f"{where} grants role {role} {perm}, but no rule of {perm} lets {role} act on any object.",
                    hint=f"Add a rule for {role} in {declared.app_label}/policy.py, or stop granting it.",
                    id=code,
                )
            )
    return errors


def _declaration_errors(permission: Permission) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if (permission.model is None) != (permission.rules is None):
        errors.append(
            checks.Error(f"{permission.name} must declare both a model and rules, or neither.", id="permissions.E001")
        )
    if permission.scope is not None and registry.scope(permission.scope) is None:
        errors.append(
            checks.Error(
                f"{permission.name} names the scope {permission.scope}, which no app declares.", id="permissions.E002"
            )
        )
    unknown_roles = set(permission.granted_to) - set(Role.values)
    if unknown_roles:
        errors.append(
            checks.Error(
                f"{permission.name} is granted to unknown role(s) {sorted(unknown_roles)}.", id="permissions.E003"
            )
        )
    return errors


def check_declarations(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for permission in registry.permissions():
        errors.extend(_declaration_errors(permission))
    grants = ((role, perm) for role, perms in registry.default_grants().items() for perm in perms)
    errors.extend(_grant_errors(grants, where="The default policy", code="permissions.E003"))
    return errors


def check_installed_roles(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    if not databases:
        return []
    from permissions.models import RolePermission

    rows = RolePermission.objects.values_list("role", "permission__content_type__app_label", "permission__codename")
    try:
        grants = [(role, f"{app_label}.{codename}") for role, app_label, codename in rows]
    except DatabaseError:
        return []  # not migrated yet (``migrate`` checks before it applies anything)
    return _grant_errors(grants, where="The role table", code="permissions.E004")
