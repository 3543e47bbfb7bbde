"""Sign-in as a pipeline: throttle, check the password, second factor, start the session.

Both the login pages and ``POST /api/auth/login/`` (+ ``/2fa/``) call :func:`attempt_login`
and :func:`attempt_second_step`, so the rules live in one place.

With a second factor enrolled, the password step does not sign in: it leaves a *pending*
state in the session (the user's id, the email, the time, the methods). That state
authenticates nothing (Django's ``SESSION_KEY`` is not set, so ``request.user`` stays
anonymous everywhere, the admin included); it lives ``MFA_PENDING_TTL`` seconds (300)
and dies with a successful second step, a new password step or sign-out. The second
step is counted in the same per-IP and per-account throttle buckets as the first.

A passkey (``accounts.passkeys``) can be the second step, the step-up, or, being a
discoverable credential verified with the user's PIN or biometric, the whole sign-in
(:func:`attempt_passkey_login`). Its assertions are counted in the same buckets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts import audit, factors, mail, passkeys, reauth, sessions, throttles
from accounts.models import User, normalize_email
from accounts.security_mail import factor_mail
from core import rows

Event = audit.Event
Outcome = audit.Outcome

INVALID_CREDENTIALS_MESSAGE = "Invalid email or password"
THROTTLED_MESSAGE = "Too many sign-in attempts. Please wait {wait} and try again."  # pages; {wait}: throttles.wait_text
INVALID_PASSKEY_MESSAGE = "That passkey was not accepted. Try again, or use another way to sign in."
INVALID_CODE_MESSAGE = "That code is not valid. Check your authenticator app (or the recovery code) and try again."
PENDING_KEY = "accounts.login.pending"
PASSWORD = "pwd"


@dataclass(frozen=True)
class LoginResult:
    user: User | None = None
    retry_after: int | None = None  # set when the attempt was throttled
    email: str = ""
    methods: list[str] = field(default_factory=list)  # set when a second step is needed
    is_expired: bool = False  # a second step without a (live) first step

    @property
    def is_throttled(self) -> bool:
        return self.retry_after is not None

    @property
    def is_success(self) -> bool:
        return self.user is not None

    @property
    def needs_second_step(self) -> bool:
        return self.user is None and bool(self.methods)


@dataclass(frozen=True)
class CountedAttempt:
    """A sign-in attempt counted in its buckets, and whether they refused it (audited then)."""

    email: str  # normalized
    retry_after: int | None

    @property
    def is_throttled(self) -> bool:
        return self.retry_after is not None


def count_attempt(request: HttpRequest, email: str) -> CountedAttempt:
    """Count a password attempt for ``email`` once: the buckets' verdict, a refusal audited."""
    email = normalize_email(email)
    return CountedAttempt(email, throttle(request, email))


def attempt_login(
    request: HttpRequest, *, email: str, password: str, counted: CountedAttempt | None = None
) -> LoginResult:
    """Run every step of a sign-in attempt and report how it ended.

    ``counted``: the attempt was counted already (``accounts.api.LoginView`` counts a plainly
    well-formed body before DRF parses it); it is not counted again.
    """
    email = normalize_email(email)
    if counted is None or counted.email != email:
        counted = count_attempt(request, email)
    if counted.is_throttled:
        return LoginResult(retry_after=counted.retry_after, email=email)
    request.session.pop(PENDING_KEY, None)  # a new first step replaces any pending one
    user = _check_password(request, email, password)
    if user is None:
        audit.record(Event.LOGIN_FAILED, outcome=Outcome.FAILURE, request=request, target=f"email:{email}")
        return LoginResult(email=email)
    methods = factors.methods_for(user)
    if methods:
        request.session[PENDING_KEY] = {
            "user": str(user.pk),
            "email": email,
            "at": time.time(),
            "methods": methods,
            "auth_hash": user.get_session_auth_hash(),
        }
        return LoginResult(email=email, methods=methods)
    sign_in(request, user)
    return LoginResult(user=user, email=email)


def throttle(request: HttpRequest, email: str, *, actor: User | None = None, step: str = "") -> int | None:
    """Count an attempt in the sign-in buckets; the wait in seconds when they refuse it.

    A refused attempt is audited in the row of each bucket that refused it, for its window
    (``audit.record_folded``): one row per bucket and window, counting its refusals. The
    bucket's own counter tells which refusal is the first (the one that is logged).
    """
    return _refused(request, throttles.login_attempt(request, email), email, actor=actor, step=step)


def _refused(
    request: HttpRequest, counts: list[throttles.Count], email: str, *, actor: User | None = None, step: str = ""
) -> int | None:
    """The wait in seconds when the counted buckets refuse the attempt, each refusing bucket audited."""
    retry_after = throttles.wait_of(counts)
    if retry_after is None:
        return None
    for counted in counts:
        if not counted.is_over:
            continue
        per_ip = counted.bucket.group == throttles.LOGIN_IP
        bucket = "per IP" if per_ip else "per account" + (", known device" if "|device:" in counted.bucket.key else "")
        audit.record_folded(
            Event.LOGIN_THROTTLED,
            fold_key=counted.bucket.cache_key,
            is_first=counted.refused == 1,
            outcome=Outcome.DENIED,
            request=request,
            actor=actor,
            target=f"ip:{counted.bucket.key}" if per_ip else f"email:{email}",
            reason=f"{step}, {bucket}" if step else bucket,
        )
    return retry_after


def _check_password(request: HttpRequest, email: str, password: str) -> User | None:
    return authenticate(request, email=email, password=password)


def pending_login(request: HttpRequest, now: float | None = None) -> tuple[User, dict] | None:
    """The account whose password step this session passed, while it is still live."""
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), (int, float)):
        return None
    if (time.time() if now is None else now) - pending["at"] > settings.MFA_PENDING_TTL:
        request.session.pop(PENDING_KEY, None)
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, str):
        return None
    user = User.objects.filter(pk=user_id, is_active=True, deleted_at__isnull=True).first()
    # A password changed or reset since the first step voids it.
    if user is None or user.get_session_auth_hash() != pending.get("auth_hash"):
        request.session.pop(PENDING_KEY, None)
        return None
    return user, pending


def attempt_second_step(
    request: HttpRequest, *, code: str = "", recovery_code: str = "", passkey: Any = None
) -> LoginResult:
    """Finish a pending sign-in with a TOTP code, a recovery code or a passkey assertion."""
    found = pending_login(request)
    if found is None:
        if passkey is not None:
            passkeys.forget_challenge(request)
        return LoginResult(is_expired=True)
    user, pending = found
    email = pending["email"]
    retry_after = throttle(request, email, actor=user, step="second step")  # the first step's buckets
    if retry_after is not None:
        if passkey is not None:
            passkeys.forget_challenge(request)  # a throttled answer still used the challenge up
        return LoginResult(retry_after=retry_after, email=email, methods=pending["methods"])
    if passkey is not None:
        assertion = _verify_passkey(request, purpose=passkeys.SECOND_STEP, credential=passkey, user=user)
        method = factors.PASSKEY if assertion is not None else None
        proved = [factors.PASSKEY, *([factors.USER_VERIFIED] if assertion and assertion.user_verified else [])]
    else:
        method = verify_factor(user, code=code, recovery_code=recovery_code)
        proved = [method] if method else []
    if method is None:
        audit.record(
            Event.SECOND_STEP_FAILED, outcome=Outcome.FAILURE, request=request, actor=user,
            reason="passkey" if passkey is not None else ("recovery code" if recovery_code else "totp code"),
        )
        return LoginResult(email=email, methods=factors.methods_for(user))
    request.session.pop(PENDING_KEY, None)
    sign_in(request, user, methods=[PASSWORD, *proved])
    record_factor_use(request, user, method)
    return LoginResult(user=user, email=email)


def attempt_passkey_login(request: HttpRequest, *, credential: Any) -> LoginResult:
    """Sign in with a passkey alone (no password): a discoverable credential, user verified.

    The session's methods are ``passkey`` and ``uv``, which an ID token states as
    ``amr: ["hwk", "user", "mfa"]``. That is two factors, not one: the passkey is
    something the user has (a key bound to their device, RFC 8176 ``hwk``), and user
    verification, which this ceremony *requires*, means the authenticator checked
    something they know or are (its PIN or biometric, ``user``) before signing. NIST SP
    800-63B counts such a device as a multi-factor cryptographic authenticator (AAL3 with
    hardware keys), so ``acr_values=mfa`` is satisfied by it.

    Counted like a password attempt: per IP before any work, and per account (the
    passkey's owner) once the credential names one.
    """
    retry_after = _refused(request, throttles.login_ip_attempt(request), "", step="passkey")
    owner = passkeys.owner_of(credential)
    email = owner.email if owner is not None else ""
    if retry_after is None and owner is not None:
        counts = throttles.login_account_attempt(request, email)
        retry_after = _refused(request, counts, email, actor=owner, step="passkey")
    if retry_after is not None:
        passkeys.forget_challenge(request)
        return LoginResult(retry_after=retry_after, email=email)
    request.session.pop(PENDING_KEY, None)  # a new sign-in replaces any pending one
    assertion = _verify_passkey(request, purpose=passkeys.LOGIN, credential=credential, user=None)
    if assertion is None:
        audit.record(
            Event.LOGIN_FAILED, outcome=Outcome.FAILURE, request=request, target=f"email:{email}" if email else "",
            reason="passkey",
        )
        return LoginResult(email=email)
    user = assertion.user
    sign_in(request, user, methods=[factors.PASSKEY, factors.USER_VERIFIED])
    record_factor_use(request, user, factors.PASSKEY)
    return LoginResult(user=user, email=user.email)


def _verify_passkey(request: HttpRequest, *, purpose: str, credential: Any, user: User | None):
    """Run the assertion check; a counter that went backwards is audited on its own."""
    try:
        return passkeys.authenticate(request, purpose=purpose, credential=credential, user=user)
    except passkeys.CounterRegressed as error:
        owner = passkeys.owner_of(credential)
        audit.record(
            Event.PASSKEY_COUNTER_REGRESSED, outcome=Outcome.DENIED, request=request, actor=owner,
            target=f"passkey:{passkeys.passkey_id_of(credential) or '-'}", reason=error.reason,
        )
        return None
    except passkeys.PasskeyError:
        return None


def attempt_reauthentication(
    request: HttpRequest, *, password: str = "", code: str = "", passkey: Any = None
) -> LoginResult:
    """Step-up for the signed-in user: a factor when they have one, else the password.

    A passkey or an authenticator-app code, whichever the account has (either when it has
    both); the password only for an account with neither. Counted in the sign-in buckets:
    step-up is no way around the sign-in throttles.
    """
    user = signed_in_user(request)
    retry_after = throttle(request, user.email, actor=user, step="step-up")
    if retry_after is not None:
        if passkey is not None:
            passkeys.forget_challenge(request)
        return LoginResult(retry_after=retry_after, email=user.email)
    expected = reauthentication_method(user)
    if passkey is not None:
        method = factors.PASSKEY
        ok = passkeys.has_passkey(user) and (
            _verify_passkey(request, purpose=passkeys.REAUTHENTICATE, credential=passkey, user=user) is not None
        )
    elif expected in (factors.TOTP, factors.PASSKEY):
        method = factors.TOTP
        ok = bool(code) and factors.has_totp(user) and factors.verify_totp(user, code)
    else:
        method = PASSWORD
        ok = bool(password) and user.check_password(password)
    if not ok:
        audit.record(Event.REAUTH_FAILED, outcome=Outcome.FAILURE, request=request, actor=user, reason=method)
        return LoginResult(email=user.email, methods=[expected])
    reauth.mark_verified(request)
    audit.record(Event.REAUTHENTICATED, request=request, actor=user, reason=method)
    return LoginResult(user=user, email=user.email)


def reauthentication_method(user: User) -> str:
    """What step-up asks this user for: their strongest factor (a passkey, else the app's code).

    An account with both may answer with either; the password only counts with neither.
    """
    if passkeys.has_passkey(user):
        return factors.PASSKEY
    return factors.TOTP if factors.has_totp(user) else PASSWORD


def verify_factor(user: User, *, code: str = "", recovery_code: str = "") -> str | None:
    """Which method the given code proves for this user, or None."""
    if code and factors.verify_totp(user, code):
        return factors.TOTP
    if recovery_code and factors.use_recovery_code(user, recovery_code):
        return factors.RECOVERY_CODE
    return None


def record_factor_use(request: HttpRequest, user: User, method: str) -> None:
    """Audit a successful second factor; a spent recovery code is also mailed to the user."""
    if method == factors.RECOVERY_CODE:
        left = factors.recovery_codes_left(user)
        audit.record(Event.RECOVERY_CODE_USED, request=request, actor=user, reason=f"{left} left")
        mail.send_later(factor_mail, user_id=str(user.pk), change="recovery_code_used")
    else:
        audit.record(Event.FACTOR_USED, request=request, actor=user, reason=method)


def sign_in(request: HttpRequest, user: User, methods: list[str] | tuple[str, ...] = (PASSWORD,)) -> None:
    """Start a fresh session for a user whose every factor has been checked.

    Every write is in one transaction, so a sign-in costs one commit and lands whole or
    not at all: the previous session's deletion, the new session row (written once),
    ``last_login``, the sessions-page entry and the audit row. The user's row was read by
    authenticate() together with their authenticator app (no second look-up).
    """
    previous_key = request.session.session_key
    with transaction.atomic():
        # The backend is named: a user who just registered did not come from authenticate().
        login(request, user, backend="accounts.backends.EmailBackend")
        # last_login also voids every password reset link issued before this sign-in (Django's
        # reset tokens hash it); one UPDATE of that column (AccountsConfig.ready explains).
        user.last_login = timezone.now()
        rows.update(user, "last_login")  # one UPDATE, built once (core.rows)
        # login() keeps the key when the same user signs in again on this session; rotate it
        # then too, so a planted or leaked pre-login id is always worthless. (Otherwise login()
        # has rotated it already.)
        if request.session.session_key is None or request.session.session_key == previous_key:
            request.session.cycle_key()
        sessions.start(request, user, list(methods))
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


def signed_in_user(request: HttpRequest) -> User:
    """The request's account, for views that only a signed-in user reaches (login required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user
