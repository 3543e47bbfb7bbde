"""Per-request account context: the audit log's request binding and session limits."""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.shortcuts import redirect

from accounts import audit, factors, sessions
from core.middleware import surely_anonymous


class AuditContextMiddleware:
    """Bind the request to the audit log for its whole life, so events recorded where no
    request is at hand (the OAuth validator works on oauthlib's request) still get the
    client's IP and user agent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit.bind(request)  # a plain try/finally: no context-manager generator per request
        try:
            return self.get_response(request)
        finally:
            audit.unbind(token)


class SessionLimitsMiddleware:
    """End a session past its idle or absolute timeout, or whose user can no longer sign in."""

    def __init__(self, get_response):
        self.get_response = get_response

    # Health probes answer from the process alone: a load balancer's probe that happens to
    # carry a session cookie must not make them depend on the session store.
    PROBE_PATHS = ("/healthz/", "/readyz/")

    def __call__(self, request):
        # No session key (no cookie): no one is signed in, and nothing is read or marked as
        # read (no ``Vary: Cookie`` from this check alone).
        session = request.session
        if session.session_key is not None and request.path not in self.PROBE_PATHS and SESSION_KEY in session:
            self._enforce(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # The notice waits until here: MessageMiddleware runs after this middleware's
        # __call__, so request._messages does not exist yet when the session is ended.
        if getattr(request, "session_expired", False):
            messages.info(request, "Your session has expired. Please sign in again.", fail_silently=True)
        return None

    def _enforce(self, request) -> None:
        if not request.user.is_authenticated:
            # The user was deactivated or deleted: this session is over.
            key = request.session.session_key
            request.session.flush()
            sessions.forget(key)
            return
        now = time.time()
        reason = sessions.expired_reason(request, now)
        if reason is None:
            sessions.touch(request, now)
            return
        user = request.user
        logout(request)
        audit.record(audit.Event.SESSION_EXPIRED, request=request, actor=user, reason=reason)
        request.session_expired = True


class SecondFactorEnrolmentMiddleware:
    """A role that needs a second factor (``MFA_REQUIRED_ROLES``) and has none is sent to
    set one up: every page but the few that enrol, step up or sign out redirects there,
    the Django admin included. The API answers 403 ``MFA_ENROLMENT_REQUIRED`` instead
    (``accounts.reauth.SecondFactorEnrolled``)."""

    ALLOWED = frozenset(
        {
            "home", "healthz", "readyz", "accounts:login", "accounts:login_2fa", "accounts:logout",
            "accounts:totp", "accounts:recovery_codes", "accounts:reauthenticate", "accounts:security",
            "accounts:passkeys",
        }
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if hasattr(view_func, "cls") or request.path.startswith("/api/"):
            return None  # DRF views answer for themselves
        match = request.resolver_match
        if match is None or match.view_name in self.ALLOWED or surely_anonymous(request):
            return None
        if not request.user.is_authenticated:
            return None
        if factors.needs_enrolment(request.user):
            notice = "Your role needs a second factor. Set up an authenticator app to continue."
            messages.info(request, notice, fail_silently=True)
            return redirect("accounts:totp")
        return None
