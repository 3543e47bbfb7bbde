"""The scope catalogue: what a third-party app may ask for, and what each scope allows.

A token never grants more than its user (or machine client) may do now: the policy
computes the principal's permissions from the current role, then these scopes narrow
them. ``openid``, ``profile`` and ``email`` allow identity claims only.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth2_provider.scopes import BaseScopes


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    permissions: frozenset[str] = frozenset()


CATALOGUE: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        Scope("openid", "Sign you in with your account (your account id)"),
        Scope("profile", "See your name"),
        Scope("email", "See your email address"),
        Scope(
            "orders:read",
            "See the orders and refund requests you can see",
            frozenset({"orders.view_order", "orders.view_refundrequest"}),
        ),
        Scope(
            "orders:write",
            "Create, pay and cancel orders, request refunds and decide them, as far as your role allows",
            frozenset(
                {
                    "orders.add_order",
                    "orders.pay_order",
                    "orders.cancel_order",
                    "orders.request_refund",
                    "orders.decide_refund",
                }
            ),
        ),
    )
}

USER_SCOPES = tuple(CATALOGUE)
READ_SCOPE = "orders:read"
WRITE_SCOPE = "orders:write"


def permissions_for_scopes(scopes: list[str] | tuple[str, ...] | set[str]) -> frozenset[str]:
    """The permissions a set of scopes lets a token use (before the role is applied)."""
    allowed: set[str] = set()
    for name in scopes:
        scope = CATALOGUE.get(name)
        if scope is not None:
            allowed |= scope.permissions
    return frozenset(allowed)


def describe(scopes: list[str]) -> list[Scope]:
    return [CATALOGUE[name] for name in scopes if name in CATALOGUE]


class CatalogueScopes(BaseScopes):
    """django-oauth-toolkit scopes backend: each client may ask only for its registered scopes."""

    def get_all_scopes(self) -> dict[str, str]:
        return {name: scope.description for name, scope in CATALOGUE.items()}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        if application is None:
            return list(CATALOGUE)  # discovery lists the whole catalogue
        policy = getattr(application, "client_policy", None)
        if policy is None:
            return []
        return [name for name in policy.scope_list if name in CATALOGUE]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        available = self.get_available_scopes(application, request)
        return ["openid"] if "openid" in available else available[:1]
