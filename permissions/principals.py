"""Who a request acts for, besides a user: a machine client, and a user through a token."""

from __future__ import annotations

from dataclasses import dataclass, field

from permissions import policy
from permissions.scopes import permissions_for_scopes


@dataclass
class ClientPrincipal:
    """A machine client (client credentials): its own role and region, never a user."""

    client_id: str
    role: str
    region: str
    scopes: tuple[str, ...] = ()
    pk: None = None
    is_active: bool = True
    is_machine: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False
    _role_permissions: tuple | None = field(default=None, repr=False)

    def narrow_permissions(self, permissions: frozenset[str]) -> frozenset[str]:
        # What only a person may do is taken away by the policy itself (``is_machine``).
        return permissions & permissions_for_scopes(self.scopes)

    def has_perm(self, perm: str, obj=None) -> bool:
        return policy.decide(self, perm, obj).allowed

    def get_all_permissions(self, obj=None) -> set[str]:
        return set(policy.role_permissions(self)) if obj is None else set()

    def __str__(self) -> str:
        return f"client {self.client_id}"


def narrow_user_to_scopes(user, scopes: list[str]) -> None:
    """A token may do what its user may do now, narrowed by the token's scopes."""
    allowed = permissions_for_scopes(scopes)
    user.token_scopes = tuple(scopes)
    user.narrow_permissions = lambda permissions: permissions & allowed
    user._role_permissions = None
