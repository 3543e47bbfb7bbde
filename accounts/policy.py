"""Who may see and manage accounts, and read the audit log: every rule about this app.

Registered from :class:`accounts.apps.AccountsConfig`; granted to the admin role by
``accounts/migrations/0002_grant_roles.py``. The users API that asks these questions
lives in ``permissions/api.py``.
"""

from __future__ import annotations

from accounts.models import Role
from core.rules import Check, Permission, Principal, Rule

USER = "accounts.user"


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


ADMINS = (Role.ADMIN,)

PERMISSIONS = (
    Permission("accounts.view_user", "view users", ADMINS, None, USER, view_user_rules),
    Permission("accounts.change_user", "change users", ADMINS, None, USER, manage_user_rules),
    Permission("accounts.delete_user", "delete users", ADMINS, None, USER, manage_user_rules),
    Permission("accounts.view_auditevent", "view the audit log", ADMINS),
    Permission("accounts.view_passkey", "view users' passkeys (names and use, never keys)", ADMINS),
)
