"""python manage.py policy: every permission of every app, with its rules, as one document."""

from __future__ import annotations

from types import SimpleNamespace

from django.core.management.base import BaseCommand

from accounts.models import Role
from core.rules import Permission, registry


def _principal(role: str) -> SimpleNamespace:
    """A stand-in whose id and region print as words, so the rules read as sentences."""
    return SimpleNamespace(pk="<your id>", role=role, region="<your region>", is_active=True)


def describe(permission: Permission) -> list[str]:
    scope = f"token scope {permission.scope}" if permission.scope else "no token may use it"
    about = f" on {permission.model}" if permission.model else ""
    lines = [f'{permission.name}{about}: "You do not have permission to {permission.phrase}"; {scope}']
    lines.append(f"  granted by default to: {', '.join(permission.granted_to) or 'nobody'}")
    if permission.people_only:
        lines.append("  never held by a machine client")
    if permission.rules is None:
        lines.append("  holding it is enough: no object rules")
        return lines
    for role in Role.values:
        rules = permission.rules(_principal(role))
        if not rules:
            lines.append(f"  {role}: no rule (acts on no object)")
        for rule in rules:
            checks = " and ".join(check.describe() for check in rule.checks) or "always"
            lines.append(f"  {role}: {rule.name}: {checks}")
    return lines


class Command(BaseCommand):
    help = "Print every permission each app declares: its 403 phrase, scope, default roles and object rules."

    def handle(self, *args, **options):
        for permission in registry.permissions():
            self.stdout.write("\n".join(describe(permission)))
        scopes = ", ".join(
            f"{name} ({', '.join(sorted(registry.permissions_of_scope(name))) or 'identity claims'})"
            for name in registry.scopes()
        )
        self.stdout.write(f"scopes: {scopes}")
