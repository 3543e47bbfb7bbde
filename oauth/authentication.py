"""Bearer tokens on the JSON API (RFC 6750).

When an ``Authorization`` header is present it alone decides: a bad token is a 401
``INVALID_TOKEN`` even beside a valid session cookie, and no CSRF check applies. A token
anywhere else (query string, form body) is never read.
"""

from __future__ import annotations

from oauth2_provider.oauth2_backends import get_oauthlib_core
from rest_framework import authentication, exceptions

from permissions.principals import ClientPrincipal, narrow_user_to_scopes


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is invalid, expired or revoked."
    default_code = "INVALID_TOKEN"
    www_authenticate = 'Bearer realm="api", error="invalid_token"'


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Send the access token as: Authorization: Bearer <token>.")
        valid, oauth_request = get_oauthlib_core().verify_request(request._request, scopes=[])
        if not valid:
            raise InvalidToken()
        access_token = oauth_request.access_token
        scopes = access_token.scope.split()
        if access_token.user is not None:
            user = access_token.user
            narrow_user_to_scopes(user, scopes)
            return user, access_token
        policy = getattr(access_token.application, "client_policy", None)
        if policy is None or not policy.role:
            raise InvalidToken("This client has no role to act with.")
        principal = ClientPrincipal(
            client_id=access_token.application.client_id, role=policy.role, region=policy.region, scopes=tuple(scopes)
        )
        return principal, access_token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
