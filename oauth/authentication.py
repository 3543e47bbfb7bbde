"""Bearer tokens on the JSON API (RFC 6750).

When an ``Authorization`` header is present it alone decides: a bad token is a 401
``INVALID_TOKEN`` even beside a valid session cookie, and no CSRF check applies. A token
anywhere else (query string, form body) is never read.

Two kinds of bearer token arrive here: OAuth access tokens and personal access tokens
(``pat_...``, :mod:`oauth.personal_tokens`). Both end the same way: the token's user,
narrowed to the token's scopes by ``narrow_user_to_scopes``, with the token as
``request.auth`` (its ``scope`` is what ``permissions.drf.TokenScope`` reads). From there on
nothing tells them apart: one policy, one scope check.
"""

from __future__ import annotations

from django.utils.functional import cached_property
from oauth2_provider.settings import oauth2_settings
from rest_framework import authentication, exceptions

from oauth import personal_tokens
from permissions.principals import ClientPrincipal, narrow_user_to_scopes


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The access token is invalid, expired or revoked."
    default_code = "INVALID_TOKEN"
    www_authenticate = 'Bearer realm="api", error="invalid_token"'


class ResourceRequest:
    """The request DOT's ``validate_bearer_token`` is given: what it reads and what it sets.

    It reads the request's URI only for a token restricted to resources (RFC 8707's audience
    check), so the URI is built when read; it sets the client, the user, the scopes and the
    token, and ``oauth2_error`` on a refusal. oauthlib's own ``Request`` would also copy the
    headers and parse the query and body, which nothing here reads.
    """

    def __init__(self, request) -> None:
        self._request = request
        self.scopes: list[str] = []
        self.access_token = None

    @cached_property
    def uri(self) -> str:
        return self._request.build_absolute_uri(self._request.path)


def validated_access_token(request, token: str):
    """The access token, if DOT's validator accepts it for this request; otherwise None.

    The header is parsed above, so this asks the validator directly, as oauthlib's resource
    endpoint would after parsing it again (that round costs about 0.3 ms per request). DOT
    checks expiry and the token's audience (RFC 8707, hence the URI), our validator the
    user's state.
    """
    oauth_request = ResourceRequest(request)
    if not oauth2_settings.OAUTH2_VALIDATOR_CLASS().validate_bearer_token(token, [], oauth_request):
        return None
    return oauth_request.access_token


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        # The Django request's own META: DRF's Request finds ``META`` only after a failed
        # attribute look-up (its ``__getattr__``), which costs about four times the read.
        header = request._request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Send the access token as: Authorization: Bearer <token>.")
        if personal_tokens.looks_like_personal_token(token.strip()):
            return self.authenticate_personal_token(request, token.strip())
        access_token = validated_access_token(request._request, token.strip())
        if access_token is None:
            raise InvalidToken()
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

    def authenticate_personal_token(self, request, token: str):
        personal_token = personal_tokens.authenticate(request._request, token)
        if personal_token is None:
            raise InvalidToken()
        user = personal_token.owner
        narrow_user_to_scopes(user, personal_token.scope_list)
        return user, personal_token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
