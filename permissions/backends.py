"""The Django authentication backend that answers ``user.has_perm(perm, obj)`` from the policy."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from permissions import policy


class PolicyBackend(BaseBackend):
    """Answers for roles and objects; authenticates nobody."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return policy.decide(user_obj, perm, obj).allowed

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        return set(policy.role_permissions(user_obj)) if obj is None else set()

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return any(perm.startswith(f"{app_label}.") for perm in policy.role_permissions(user_obj))
