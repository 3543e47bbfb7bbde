"""The identity scopes, who may manage OAuth clients, and who sees everyone's personal tokens.

Registered from :class:`oauth.apps.OAuthConfig`; the admin role's grants are installed by
``oauth/migrations/0002_grant_roles.py`` and ``0004_grant_personal_tokens.py``. A person
manages their own personal tokens (``/accounts/tokens/``, ``/api/tokens/``) through
``oauth.selectors``, which only ever returns the caller's own.
"""

from __future__ import annotations

from accounts.models import Role
from core.rules import Check, Permission, Principal, Rule, Scope

# Identity scopes cover no permission: they allow claims about the user (ID token, userinfo).
SCOPES = (
    Scope("openid", "Sign you in with your account (your account id)"),
    Scope("profile", "See your name"),
    Scope("email", "See your email address"),
)

ADMINS = (Role.ADMIN,)
PERSONAL_TOKEN = "oauth.personaltoken"


def view_personal_token_rules(principal: Principal) -> list[Rule]:
    if principal.role != Role.ADMIN:
        return []
    return [Rule("admins see every personal access token")]


def revoke_personal_token_rules(principal: Principal) -> list[Rule]:
    if principal.role != Role.ADMIN:
        return []
    live = Check("revoked_at", "isnull", True, "the token is already revoked")
    return [Rule("admins revoke any live personal access token", (live,))]


PERMISSIONS = (
    Permission("oauth2_provider.view_application", "view OAuth clients", ADMINS),
    Permission("oauth2_provider.add_application", "register OAuth clients", ADMINS),
    Permission("oauth2_provider.change_application", "change OAuth clients", ADMINS),
    Permission("oauth2_provider.delete_application", "delete OAuth clients", ADMINS),
    Permission("oauth.view_clientpolicy", "view client policies", ADMINS),
    Permission("oauth.add_clientpolicy", "add client policies", ADMINS),
    Permission("oauth.change_clientpolicy", "change client policies", ADMINS),
    Permission("oauth.view_consent", "view consents", ADMINS),
    Permission(
        "oauth.view_personaltoken",
        "view personal access tokens",
        ADMINS,
        None,
        PERSONAL_TOKEN,
        view_personal_token_rules,
    ),
    Permission(
        "oauth.change_personaltoken",
        "revoke personal access tokens",
        ADMINS,
        None,
        PERSONAL_TOKEN,
        revoke_personal_token_rules,
    ),
)
