"""Second factors: TOTP (RFC 6238) and recovery codes. The algorithm is pyotp's.

What is stored, and why:

- A TOTP secret is encrypted with Fernet under a key derived from ``SECRET_KEY``
  (HKDF-SHA256, its own label), so a database dump alone does not give the codes.
  Rotating ``SECRET_KEY`` therefore makes every enrolled authenticator unreadable:
  users would enrol again (recovery codes still work, they are keyed hashes below).
- A code is accepted for the current 30-second step or one step either side (clock
  drift). The accepted step is written with a conditional UPDATE (``last_used_step <
  step``): a code is accepted once, and of two simultaneous uses of one code exactly one
  wins; a code of an earlier step than one already used is refused too.
- Recovery codes are random (50 bits each, 10 per set), stored as HMAC-SHA256 under a
  key derived from ``SECRET_KEY`` (they are random, so a slow hash buys nothing), and
  consumed by a conditional UPDATE (``used_at IS NULL``): single use, even under races.

Passkeys (WebAuthn, ``accounts.passkeys``) are a second factor too: :func:`methods_for`
lists ``passkey`` first when the account has one, and every "has a factor" question here
counts them.
Costs: checking a code is three HMAC-SHA1 computations and one UPDATE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from functools import lru_cache

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils import timezone

from accounts.models import RecoveryCode, TotpDevice, User
from accounts.passkeys import has_passkey

TOTP = "totp"
RECOVERY_CODE = "recovery_code"
PASSKEY = "passkey"
# Not a method a user picks: the session's record that a passkey's authenticator verified
# the user (PIN or biometric), RFC 8176 ``user``.
USER_VERIFIED = "uv"

PERIOD = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_CODE_LENGTH = 10


@lru_cache(maxsize=4)
def _derive(secret_key: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret_key.encode())


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(settings.SECRET_KEY, b"accounts.totp-secret")))


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str | None:
    """The plain secret, or None when SECRET_KEY changed since it was stored."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


# --- TOTP ---------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, RFC 4226's recommendation


def provisioning_uri(secret: str, user: User) -> str:
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    return totp.provisioning_uri(name=user.email, issuer_name=settings.MFA_ISSUER)


def qr_code_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI (the CSP allows ``img-src data:``; no script, no request)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111", light="#fff")


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // PERIOD)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The step (now, or one either side) whose code this is, else None."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    step = current_step(now)
    found = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(candidate * PERIOD), code):
            found = candidate  # no early exit: the same work whichever step matched
    return found


def verify_totp(user: User, code: str, now: float | None = None) -> bool:
    """Accept a code of the user's authenticator once; replays and older steps are refused."""
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        return False
    secret = decrypt_secret(device.encrypted_secret)
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    return TotpDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step) == 1


# --- Recovery codes ---------------------------------------------------------------


def new_recovery_codes() -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(RECOVERY_CODE_COUNT)]


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def hash_recovery_code(code: str) -> str:
    key = _derive(settings.SECRET_KEY, b"accounts.recovery-code")
    return hmac.new(key, normalize_recovery_code(code).encode(), hashlib.sha256).hexdigest()


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one unused recovery code of the user; False if unknown or already used."""
    if not code or len(code) > 64:
        return False
    spent = RecoveryCode.objects.filter(user=user, code_hash=hash_recovery_code(code), used_at__isnull=True)
    return spent.update(used_at=timezone.now()) == 1


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


# --- What a user has ------------------------------------------------------------------


def has_totp(user: User) -> bool:
    """Whether the account has an authenticator app; no query when the sign-in's look-up read it."""
    joined = getattr(user, "joined_has_totp", None)  # accounts.backends.EmailBackend
    if joined is not None:
        return bool(joined)
    return TotpDevice.objects.filter(user=user).exists()


def methods_for(user: User) -> list[str]:
    """The second-step methods this account can use, strongest first (passkeys go first).

    Recovery codes stand in for a factor, so they count only beside one.
    """
    methods = ([PASSKEY] if has_passkey(user) else []) + ([TOTP] if has_totp(user) else [])
    if methods and recovery_codes_left(user):
        methods.append(RECOVERY_CODE)
    return methods


def has_second_factor(user: User) -> bool:
    return bool(methods_for(user))


def requires_second_factor(user: User) -> bool:
    """The role table's rule: roles in ``MFA_REQUIRED_ROLES`` (admin) need a second factor."""
    return getattr(user, "role", None) in settings.MFA_REQUIRED_ROLES


def needs_enrolment(user: User) -> bool:
    """A role that needs a second factor, and none yet. Cached on the user for the request."""
    if not requires_second_factor(user):
        return False
    cached = getattr(user, "_needs_mfa_enrolment", None)
    if cached is None:
        cached = not (has_totp(user) or has_passkey(user))
        setattr(user, "_needs_mfa_enrolment", cached)  # noqa: B010 - a per-request memo, not a model field
    return cached
