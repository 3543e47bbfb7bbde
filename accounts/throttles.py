"""Brute-force throttles, counted with django-ratelimit in the shared cache.

Every attempt is counted before any password is hashed, atomically (``cache.add`` then
``cache.incr``), so concurrent guesses cannot slip past the limit.

Sign-in is limited twice: per client IP (an IPv6 client by its /64, see accounts/net.py),
and per account (the submitted email). The per-account limit would let an attacker lock the
owner out, so a browser that has signed in to the account before carries a signed
*known-device* cookie, and its attempts count in a bucket of their own (account + device):
the owner's own browser keeps working while the attacker's guesses fill the shared bucket.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from accounts.net import client_ip_key

KNOWN_DEVICE_SALT = "accounts.known-device"
KNOWN_DEVICE_ACCOUNTS = 5


def hit(request: HttpRequest, *, group: str, key: str, rate: str) -> int | None:
    """Count one attempt; return seconds until the window reopens when over the limit."""
    usage = get_usage(request, group=group, key=lambda _group, _request: key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, int(usage["time_left"]))


def hit_all(request: HttpRequest, *checks: tuple[str, str, str]) -> int | None:
    """Count the attempt in every (group, key, rate) bucket; the longest wait wins."""
    waits = [hit(request, group=group, key=key, rate=rate) for group, key, rate in checks]
    limited = [wait for wait in waits if wait is not None]
    return max(limited) if limited else None


def _account_bucket(request: HttpRequest, email: str) -> tuple[str, str, str]:
    device = known_device(request, email)
    account_key = f"{email}|device:{device}" if device else email
    return ("login:account", account_key, settings.LOGIN_RATE_PER_ACCOUNT)


def login_attempt(request: HttpRequest, email: str) -> int | None:
    """Count a sign-in attempt per IP and per account; the wait in seconds if throttled."""
    return hit_all(
        request,
        ("login:ip", client_ip_key(request), settings.LOGIN_RATE_PER_IP),
        _account_bucket(request, email),
    )


def login_ip_attempt(request: HttpRequest) -> int | None:
    """The per-IP half of :func:`login_attempt`, for a passkey sign-in before its account is known."""
    return hit_all(request, ("login:ip", client_ip_key(request), settings.LOGIN_RATE_PER_IP))


def login_account_attempt(request: HttpRequest, email: str) -> int | None:
    """The per-account half of :func:`login_attempt`, once a passkey names its account."""
    return hit_all(request, _account_bucket(request, email))


def _account_digest(email: str) -> str:
    return hashlib.sha256(f"known-device:{email}".encode()).hexdigest()[:16]


def _read_device_cookie(request: HttpRequest) -> dict:
    raw = request.COOKIES.get(settings.KNOWN_DEVICE_COOKIE_NAME)
    if not raw:
        return {}
    try:
        value = signing.loads(raw, salt=KNOWN_DEVICE_SALT, max_age=settings.KNOWN_DEVICE_MAX_AGE)
    except signing.BadSignature:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("accounts"), list):
        return {}
    return value


def known_device(request: HttpRequest, email: str) -> str | None:
    """The device id if this browser has signed in to this account before."""
    value = _read_device_cookie(request)
    if _account_digest(email) in value.get("accounts", []):
        return str(value.get("device", ""))[:32] or None
    return None


def remember_device(request: HttpRequest, response: HttpResponse, email: str) -> None:
    """After a successful sign-in, mark this browser as known for the account."""
    value = _read_device_cookie(request)
    device = str(value.get("device") or secrets.token_urlsafe(16))[:32]
    accounts = [digest for digest in value.get("accounts", []) if digest != _account_digest(email)]
    accounts = [_account_digest(email), *accounts][:KNOWN_DEVICE_ACCOUNTS]
    response.set_cookie(
        settings.KNOWN_DEVICE_COOKIE_NAME,
        signing.dumps({"device": device, "accounts": accounts}, salt=KNOWN_DEVICE_SALT),
        max_age=settings.KNOWN_DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
