"""Step-up: sensitive actions need an authentication newer than ``REAUTH_MAX_AGE``.

One guard, in one place, in three shapes:

- :func:`ensure_recent` (the service-level check) raises :class:`ReauthenticationRequired`;
- :func:`reauthentication_required`, a page-view decorator: a stale session is redirected
  to ``/accounts/reauthenticate/?next=...`` and comes back. A POST is not replayed: the
  way back is the page itself (GET), so the user lands on the form again;
- :class:`RecentAuthentication`, a DRF permission (in ``DEFAULT_PERMISSION_CLASSES``): a
  view that declares ``reauth_methods = ("POST",)`` answers 403 ``REAUTH_REQUIRED``.

``SENSITIVE`` lists every route that uses the guard (a test keeps it in step with the
URL resolver). To guard a new action: ``@reauthentication_required`` on its page view,
``reauth_methods`` on its API view, and a line in ``SENSITIVE``.

The same module holds the second-factor enrolment gate (:class:`SecondFactorEnrolled`,
403 ``MFA_ENROLMENT_REQUIRED``): roles in ``MFA_REQUIRED_ROLES`` may not act until
they have a factor.

The session records when and how the user last proved who they are
(``accounts.sessions.VERIFIED_AT`` and ``AMR``); that record is what the guard reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from accounts import factors, sessions
from accounts.models import User

# Every route that uses the guard: (URL name, method). tests/accounts/test_reauth.py walks it.
SENSITIVE: tuple[tuple[str, str], ...] = (
    ("accounts:password_change", "GET"),
    ("accounts:password_change", "POST"),
    ("accounts:totp", "GET"),
    ("accounts:totp", "POST"),
    ("accounts:recovery_codes", "POST"),
    ("accounts:passkey_remove", "GET"),
    ("accounts:passkey_remove", "POST"),
    ("api-user", "PATCH"),
    ("api-user", "DELETE"),
    ("admin:accounts_user_change", "POST"),
    ("admin:accounts_user_delete", "GET"),
    ("admin:accounts_user_delete", "POST"),
    ("oauth:tokens", "POST"),
    ("api-tokens", "POST"),
    ("api-passkeys", "POST"),
    ("api-passkeys-options", "POST"),
    ("api-passkey", "DELETE"),
)


class ReauthenticationRequired(exceptions.PermissionDenied):
    default_detail = "Confirm it is you: POST /api/auth/reauthenticate/ with your password or a code, then try again."
    default_code = "REAUTH_REQUIRED"


class MfaEnrolmentRequired(exceptions.PermissionDenied):
    default_detail = "Your role needs a second factor: set one up at /accounts/2fa/totp/ first."
    default_code = "MFA_ENROLMENT_REQUIRED"


def is_recent(request: HttpRequest, now: float | None = None) -> bool:
    """Did this session authenticate (sign-in or step-up) within ``REAUTH_MAX_AGE``?"""
    verified_at = request.session.get(sessions.VERIFIED_AT)
    if not isinstance(verified_at, (int, float)):
        return False
    return (time.time() if now is None else now) - verified_at <= settings.REAUTH_MAX_AGE


def ensure_recent(request: HttpRequest) -> None:
    """The service-level check: raise unless the session authenticated recently."""
    if not is_recent(request):
        raise ReauthenticationRequired()


def reauthenticate_url(request: HttpRequest) -> str:
    back = request.get_full_path() if request.method == "GET" else request.path
    return f"{reverse('accounts:reauthenticate')}?{urlencode({'next': back})}"


def reauthentication_required(
    view: Callable[..., HttpResponse] | None = None, *, methods: tuple[str, ...] = ("GET", "POST")
):
    """Page views: a stale session goes to the step-up page first, then back to the form.

    ``methods`` narrows the guard (``methods=("POST",)``: the page lists freely, acting needs step-up).
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in methods and not is_recent(request):
                return redirect(reauthenticate_url(request))
            return view(request, *args, **kwargs)

        guarded.reauth_required = True  # type: ignore[attr-defined]
        guarded.reauth_http_methods = methods  # type: ignore[attr-defined]
        return guarded

    return decorate(view) if view is not None else decorate


def is_session_user(request) -> bool:
    """A person signed in with a session cookie (not a bearer token, not a machine client)."""
    return isinstance(request.user, User) and request.user.is_authenticated and request.auth is None


class RecentAuthentication(BasePermission):
    """API views listing a method in ``reauth_methods`` need a recent authentication."""

    def has_permission(self, request, view) -> bool:
        if request.method not in getattr(view, "reauth_methods", ()):  # DRF's: a clone may carry another
            return True
        if not is_session_user(request) or not is_recent(request._request):
            raise ReauthenticationRequired()
        return True


class SecondFactorEnrolled(BasePermission):
    """Every API view but the sign-in ones (``mfa_enrolment_exempt``) refuses a role that
    needs a second factor and has none."""

    def has_permission(self, request, view) -> bool:
        if getattr(view, "mfa_enrolment_exempt", False) or not isinstance(request.user, User):
            return True
        if factors.needs_enrolment(request.user):
            raise MfaEnrolmentRequired()
        return True


def mark_verified(request: HttpRequest, now: float | None = None) -> None:
    """Record a successful step-up. ``AMR`` keeps the sign-in's methods (OIDC ``amr``)."""
    request.session[sessions.VERIFIED_AT] = time.time() if now is None else now
