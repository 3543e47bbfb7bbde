"""The identity scopes, and who may manage OAuth clients in the Django admin.

Registered from :class:`oauth.apps.OAuthConfig`; the admin role's grants are installed by
``oauth/migrations/0002_grant_roles.py``.
"""

from __future__ import annotations

from accounts.models import Role
from core.rules import Permission, Scope

# Identity scopes cover no permission: they allow claims about the user (ID token, userinfo).
SCOPES = (
    Scope("openid", "Sign you in with your account (your account id)"),
    Scope("profile", "See your name"),
    Scope("email", "See your email address"),
)

ADMINS = (Role.ADMIN,)

PERMISSIONS = (
    Permission("oauth2_provider.view_application", "view OAuth clients", ADMINS),
    Permission("oauth2_provider.add_application", "register OAuth clients", ADMINS),
    Permission("oauth2_provider.change_application", "change OAuth clients", ADMINS),
    Permission("oauth2_provider.delete_application", "delete OAuth clients", ADMINS),
    Permission("oauth.view_clientpolicy", "view client policies", ADMINS),
    Permission("oauth.add_clientpolicy", "add client policies", ADMINS),
    Permission("oauth.change_clientpolicy", "change client policies", ADMINS),
    Permission("oauth.view_consent", "view consents", ADMINS),
)
