"""The access table: every route of the site, its methods and who may call it.

Deny by default: a test walks the URL resolver and fails on any route missing here,
and checks that an anonymous caller gets 401 (API) or the login page (pages) on
everything not marked public. Object rules beyond "signed in" / "admin" are the
policy's (``permissions/policy.py``); the audience here is the outer gate.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed-in"  # any active account (or, on the API, a valid bearer token)
ADMIN = "admin"  # the admin role only
TOKEN = "token"  # a valid OAuth access token in the Authorization header
CLIENT = "client"  # the OAuth client authenticates itself (secret, or PKCE for public clients)

GET = ("GET",)
POST = ("POST",)
GET_POST = ("GET", "POST")


@dataclass(frozen=True)
class Route:
    name: str  # the URL name, with its namespace; "admin:*" covers the whole Django admin
    methods: tuple[str, ...]
    audience: str
    api: bool = False

    @property
    def is_public(self) -> bool:
        return self.audience in (PUBLIC, CLIENT)


ACCESS_TABLE: tuple[Route, ...] = (
    # Site and health
    Route("home", GET, PUBLIC),
    Route("healthz", GET, PUBLIC),
    Route("readyz", GET, PUBLIC),
    # Account pages
    Route("accounts:login", GET_POST, PUBLIC),
    Route("accounts:login_2fa", GET_POST, PUBLIC),  # only a live password step gets past it
    Route("accounts:logout", POST, PUBLIC),  # signing out an anonymous browser does nothing
    Route("accounts:register", GET_POST, PUBLIC),
    Route("accounts:password_reset", GET_POST, PUBLIC),
    Route("accounts:password_reset_done", GET, PUBLIC),
    Route("accounts:password_reset_confirm", GET_POST, PUBLIC),
    Route("accounts:password_reset_complete", GET, PUBLIC),
    Route("accounts:email_confirm", GET_POST, PUBLIC),  # the signed token is the credential
    Route("accounts:email_confirm_send", POST, SIGNED_IN),
    Route("accounts:profile", GET_POST, SIGNED_IN),
    Route("accounts:password_change", GET_POST, SIGNED_IN),
    Route("accounts:reauthenticate", GET_POST, SIGNED_IN),
    Route("accounts:security", GET, SIGNED_IN),
    Route("accounts:totp", GET_POST, SIGNED_IN),
    Route("accounts:passkeys", GET, SIGNED_IN),  # adding (in the browser, via the API) needs step-up
    Route("accounts:passkey_rename", POST, SIGNED_IN),  # one's own only: another's is 404
    Route("accounts:passkey_remove", GET_POST, SIGNED_IN),  # step-up first; one's own only
    Route("accounts:recovery_codes", GET_POST, SIGNED_IN),
    Route("accounts:sessions", GET, SIGNED_IN),
    Route("accounts:session_revoke", POST, SIGNED_IN),
    Route("accounts:session_revoke_others", POST, SIGNED_IN),
    # Order pages (object rules: the policy)
    Route("orders:list", GET, SIGNED_IN),
    Route("orders:new", GET_POST, SIGNED_IN),
    Route("orders:detail", GET, SIGNED_IN),
    Route("orders:pay", POST, SIGNED_IN),
    Route("orders:cancel", POST, SIGNED_IN),
    Route("orders:request_refund", POST, SIGNED_IN),
    Route("orders:approve", POST, SIGNED_IN),
    Route("orders:reject", POST, SIGNED_IN),
    Route("oauth:apps", GET, SIGNED_IN),
    Route("oauth:app_revoke", POST, SIGNED_IN),
    Route("oauth:tokens", GET_POST, SIGNED_IN),  # creating one needs step-up
    Route("oauth:token_revoke", POST, SIGNED_IN),
    # OAuth 2 / OpenID Connect provider
    Route("oauth2_provider:authorize", GET_POST, SIGNED_IN),
    Route("oauth2_provider:token", POST, CLIENT),
    Route("oauth2_provider:revoke-token", POST, CLIENT),
    Route("oauth2_provider:introspect", POST, CLIENT),
    Route("oauth2_provider:oidc-connect-discovery-info", GET, PUBLIC),
    Route("oauth2_provider:oauth-server-metadata", GET, PUBLIC),
    Route("oauth2_provider:jwks-info", GET, PUBLIC),
    Route("oauth2_provider:user-info", GET_POST, TOKEN),
    Route("oauth2_provider:rp-initiated-logout", GET_POST, PUBLIC),
    # Django admin: the admin role only, each object through the policy
    Route("admin-login", GET, PUBLIC),  # redirects to the site's login page
    Route("admin:*", GET_POST, ADMIN),
    # JSON API
    Route("api-csrf", GET, PUBLIC, api=True),
    Route("api-login", POST, PUBLIC, api=True),
    Route("api-login-2fa", POST, PUBLIC, api=True),  # only a live password step gets past it
    Route("api-login-2fa-options", POST, PUBLIC, api=True),  # only a live password step gets past it
    Route("api-login-passkey-options", POST, PUBLIC, api=True),
    Route("api-login-passkey", POST, PUBLIC, api=True),  # the passkey is the credential
    Route("api-reauthenticate", POST, SIGNED_IN, api=True),
    Route("api-reauthenticate-options", POST, SIGNED_IN, api=True),
    # Passkeys: a session only (any bearer token is 403); adding and removing need step-up
    Route("api-passkeys", GET_POST, SIGNED_IN, api=True),
    Route("api-passkeys-options", POST, SIGNED_IN, api=True),
    Route("api-passkey", ("PATCH", "DELETE"), SIGNED_IN, api=True),
    Route("api-logout", POST, SIGNED_IN, api=True),
    Route("api-me", GET, SIGNED_IN, api=True),
    Route("api-orders", GET_POST, SIGNED_IN, api=True),
    Route("api-order", GET, SIGNED_IN, api=True),
    Route("api-order-pay", POST, SIGNED_IN, api=True),
    Route("api-order-cancel", POST, SIGNED_IN, api=True),
    Route("api-order-refund-requests", POST, SIGNED_IN, api=True),
    Route("api-refund-requests", GET, SIGNED_IN, api=True),
    Route("api-refund-request", GET, SIGNED_IN, api=True),
    Route("api-refund-request-approve", POST, SIGNED_IN, api=True),
    Route("api-refund-request-reject", POST, SIGNED_IN, api=True),
    Route("api-users", GET, ADMIN, api=True),
    Route("api-user", ("GET", "PATCH", "DELETE"), ADMIN, api=True),
    # Personal access tokens: a session only (any bearer token is 403 INSUFFICIENT_SCOPE)
    Route("api-tokens", GET_POST, SIGNED_IN, api=True),
    Route("api-token", ("DELETE",), SIGNED_IN, api=True),
    Route("api-schema", GET, PUBLIC, api=True),
    Route("api-docs", GET, PUBLIC, api=True),
)

ROUTES: dict[str, Route] = {route.name: route for route in ACCESS_TABLE}


def route_for(view_name: str) -> Route | None:
    """The table's entry for a resolved view name (namespace wildcards included)."""
    if view_name in ROUTES:
        return ROUTES[view_name]
    namespace = view_name.split(":", 1)[0] if ":" in view_name else ""
    return ROUTES.get(f"{namespace}:*") if namespace else None
