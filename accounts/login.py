"""Sign-in as a pipeline: throttle, check the password, (second factor), start the session.

Both the login page and ``POST /api/auth/login/`` call :func:`attempt_login`, so the
rules live in one place. A second factor slots in between :func:`_check_password` and
:func:`sign_in`: it returns a pending result instead of signing in.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate, login, logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from accounts import audit, sessions, throttles
from accounts.models import User, normalize_email

Event = audit.Event
Outcome = audit.Outcome

INVALID_CREDENTIALS_MESSAGE = "Invalid email or password"


@dataclass(frozen=True)
class LoginResult:
    user: User | None = None
    retry_after: int | None = None  # set when the attempt was throttled
    email: str = ""

    @property
    def is_throttled(self) -> bool:
        return self.retry_after is not None

    @property
    def is_success(self) -> bool:
        return self.user is not None


def attempt_login(request: HttpRequest, *, email: str, password: str) -> LoginResult:
    """Run every step of a sign-in attempt and report how it ended."""
    email = normalize_email(email)
    retry_after = throttles.login_attempt(request, email)
    if retry_after is not None:
        audit.record(Event.LOGIN_THROTTLED, outcome=Outcome.DENIED, request=request, target=f"email:{email}")
        return LoginResult(retry_after=retry_after, email=email)
    user = _check_password(request, email, password)
    if user is None:
        audit.record(Event.LOGIN_FAILED, outcome=Outcome.FAILURE, request=request, target=f"email:{email}")
        return LoginResult(email=email)
    sign_in(request, user)
    return LoginResult(user=user, email=email)


def _check_password(request: HttpRequest, email: str, password: str) -> User | None:
    return authenticate(request, email=email, password=password)


def sign_in(request: HttpRequest, user: User) -> None:
    """Start a fresh session for a user whose every factor has been checked.

    Every write is in one transaction, so a sign-in costs one commit and lands whole or
    not at all: the previous session's deletion, the new session row (written once),
    ``last_login``, the sessions-page entry and the audit row.
    """
    previous_key = request.session.session_key
    with transaction.atomic():
        # The backend is named: a user who just registered did not come from authenticate().
        login(request, user, backend="accounts.backends.EmailBackend")
        # login() keeps the key when the same user signs in again on this session; rotate it
        # then too, so a planted or leaked pre-login id is always worthless. (Otherwise login()
        # has rotated it already.)
        if request.session.session_key is None or request.session.session_key == previous_key:
            request.session.cycle_key()
        sessions.start(request, user)
        # The session signed in before (same or another user) is gone: drop its listing too.
        sessions.forget(previous_key)
        audit.record(Event.LOGIN_SUCCEEDED, request=request, actor=user)


def finish_response(request: HttpRequest, response: HttpResponse, result: LoginResult) -> HttpResponse:
    """What a successful sign-in adds to the response: the known-device cookie."""
    if result.is_success:
        throttles.remember_device(request, response, result.email)
    return response


def end_session(request: HttpRequest) -> None:
    """Sign out this browser session only: its server-side data is deleted."""
    user = request.user if request.user.is_authenticated else None
    logout(request)  # the user_logged_out receiver drops it from the sessions page
    if user is not None:
        audit.record(Event.LOGOUT, request=request, actor=user)
