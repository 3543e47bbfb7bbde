"""Site-wide HTTP rules: security headers, caching of private responses, deny by default."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware

PRIVATE_PREFIXES = ("/api/", "/o/")


class SecurityHeadersMiddleware:
    """Content-Security-Policy on every response; no-store on everything private."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if request.path.startswith(PRIVATE_PREFIXES) or self._is_signed_in(request):
            response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _is_signed_in(request) -> bool:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated)


class LoginRequiredByDefaultMiddleware(LoginRequiredMiddleware):
    """Every page needs a signed-in user unless marked ``login_not_required``.

    API views (DRF) and the OAuth endpoints authenticate themselves, with bearer tokens
    as well as sessions, and answer 401 rather than redirecting; their own default is
    deny too (``IsAuthenticated``).
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if hasattr(view_func, "cls") or request.path.startswith(PRIVATE_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
