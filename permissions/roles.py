"""The default role -> permission mapping, declared once.

A data migration installs it into :class:`permissions.models.RolePermission`; the
policy reads the table, so an operator can see (``manage.py roles``, the admin) what
each role holds. Object rules (owner, region, amount, state, separation of duties)
are in :mod:`permissions.policy`.
"""

from __future__ import annotations

from accounts.models import Role

ORDER_READ = ("orders.view_order", "orders.view_refundrequest")
OAUTH_CLIENT_ADMIN = (
    "oauth2_provider.view_application",
    "oauth2_provider.add_application",
    "oauth2_provider.change_application",
    "oauth2_provider.delete_application",
    "oauth.view_clientpolicy",
    "oauth.add_clientpolicy",
    "oauth.change_clientpolicy",
    "oauth.view_consent",
)

DEFAULT_ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CUSTOMER: (
        *ORDER_READ,
        "orders.add_order",
        "orders.pay_order",
        "orders.cancel_order",
        "orders.request_refund",
    ),
    Role.SUPPORT: (*ORDER_READ, "orders.request_refund"),
    Role.MANAGER: (*ORDER_READ, "orders.decide_refund"),
    Role.ADMIN: (
        *ORDER_READ,
        "orders.decide_refund",
        "accounts.view_user",
        "accounts.change_user",
        "accounts.delete_user",
        "accounts.view_auditevent",
        "permissions.view_rolepermission",
        *OAUTH_CLIENT_ADMIN,
    ),
}

ALL_PERMISSIONS: tuple[str, ...] = tuple(sorted({perm for perms in DEFAULT_ROLE_PERMISSIONS.values() for perm in perms}))
