"""DRF permission checks that run before any object is looked up."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from core.api import ANY_TOKEN

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "INSUFFICIENT_SCOPE"

    def __init__(self, scope: str | None):
        if scope:
            detail = f"The access token lacks the {scope} scope."
            self.www_authenticate = f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
        else:
            detail = "This endpoint cannot be used with an access token."
            self.www_authenticate = 'Bearer realm="api", error="insufficient_scope"'
        super().__init__(detail)


def is_token_request(request) -> bool:
    return request.auth is not None and hasattr(request.auth, "scope")


class TokenScope(BasePermission):
    """A bearer token must carry the scope the view declares for the method.

    Views declare ``token_scopes = {"GET": "orders:read", "POST": "orders:write"}``, or
    ``ANY_TOKEN`` for every valid token. A view that declares nothing cannot be used
    with a token at all (deny by default): ``/api/users/`` is such a view.
    """

    def has_permission(self, request, view) -> bool:
        if not is_token_request(request):
            return True
        declared = getattr(view, "token_scopes", None)
        if declared == ANY_TOKEN:
            return True
        # DRF's ``request.method``, not the Django request's: DRF checks permissions for another
        # method on a clone carrying that method (``clone_request``, OPTIONS metadata).
        method = "GET" if request.method in SAFE_METHODS else request.method
        needed = (declared or {}).get(method)
        if needed is None or needed not in request.auth.scope.split():
            raise InsufficientScope(needed)
        return True
