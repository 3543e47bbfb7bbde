"""Passkeys: the WebAuthn registration and authentication ceremonies (py_webauthn).

The relying party is the site itself: its id is the host of ``PUBLIC_ORIGIN`` and every
response must come from exactly that origin. Browsers refuse an IP address as a
relying-party id, so with ``PUBLIC_ORIGIN=http://127.0.0.1:8000`` passkeys cannot work:
:func:`unavailable_reason` says so and the pages show it instead of failing.

Challenges are kept server-side, in the session: one ``{challenge, purpose, user_id,
expires_at}`` at a time (new options replace the old). Any verification attempt pops it
first, so a challenge is answered at most once, right or wrong, and it dies after
``CHALLENGE_TTL`` seconds. The purpose binds it to one ceremony: a challenge issued for a
second step cannot finish a registration or a passwordless sign-in.

The signature counter is checked here rather than by py_webauthn (which is given 0): a
counter that does not rise is refused *after* the signature is verified, so the audit row
:data:`~accounts.models.AuditEvent.Type.PASSKEY_COUNTER_REGRESSED` means a real
authenticator's signature with a stale counter (a cloned credential), not a forgery.
Both counters zero is an authenticator without a counter (synced passkeys): allowed.

Costs: options are a random challenge and a session write; a verification is one
signature check (ECDSA P-256, Ed25519 or RSA) and one conditional UPDATE.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json, parse_registration_credential_json
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts.models import Passkey, User

logger = logging.getLogger("accounts.passkeys")
T = TypeVar("T")

CHALLENGE_KEY = "accounts.passkeys.challenge"
CHALLENGE_TTL = 120  # seconds between the options and the answer
TIMEOUT_MS = 60_000  # what the browser is told (a hint)

# What a challenge was issued for.
REGISTER = "register"
LOGIN = "login"  # passwordless: any discoverable passkey, user verification required
SECOND_STEP = "second_step"  # after the password: one of the pending account's passkeys
REAUTHENTICATE = "reauthenticate"  # step-up of the signed-in account
PURPOSES = (REGISTER, LOGIN, SECOND_STEP, REAUTHENTICATE)

NAME_MAX_LENGTH = 64
MAX_PASSKEYS = 20  # per account; options past it are refused


class PasskeyError(Exception):
    """A ceremony that did not succeed. ``reason`` goes to the audit log, ``message`` to the user."""

    def __init__(self, reason: str, message: str = "That passkey was not accepted. Try again.") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class CounterRegressed(PasskeyError):
    """A valid signature whose counter did not rise: a possible clone, refused and audited."""


@dataclass(frozen=True)
class Assertion:
    """A verified authentication: whose passkey, and whether the user was verified (PIN, biometric)."""

    passkey: Passkey
    user: User
    user_verified: bool


# --- The relying party ------------------------------------------------------------------


def rp_id() -> str:
    return urlsplit(settings.PUBLIC_ORIGIN).hostname or ""


def origin() -> str:
    return settings.PUBLIC_ORIGIN


def unavailable_reason() -> str | None:
    """Why passkeys cannot work on this site as configured, or None when they can."""
    host = rp_id()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (
        f"Passkeys need the site to be reached by a host name, not an IP address ({host}). "
        "Open the site at http://localhost:8000 (start it with PUBLIC_ORIGIN=http://localhost:8000) "
        "or set PUBLIC_ORIGIN to its real host name."
    )


def is_available() -> bool:
    return unavailable_reason() is None


# --- Challenges -------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _remember(request: HttpRequest, *, challenge: bytes, purpose: str, user: User | None) -> None:
    request.session[CHALLENGE_KEY] = {
        "challenge": _b64url(challenge),
        "purpose": purpose,
        "user_id": str(user.pk) if user is not None else None,
        "expires_at": time.time() + CHALLENGE_TTL,
    }


def forget_challenge(request: HttpRequest) -> None:
    """Drop the waiting challenge (an attempt that was throttled still used it up)."""
    request.session.pop(CHALLENGE_KEY, None)


def take_challenge(request: HttpRequest, *, purpose: str, user: User | None, now: float | None = None) -> bytes:
    """Pop the session's challenge (single use, whatever happens next) and check it fits."""
    state = request.session.pop(CHALLENGE_KEY, None)
    if not isinstance(state, dict):
        raise PasskeyError("no challenge", "Start again: no passkey request is waiting (or it was already answered).")
    expires_at = state.get("expires_at")
    if not isinstance(expires_at, (int, float)) or (time.time() if now is None else now) > expires_at:
        raise PasskeyError("challenge expired", "That took too long. Try again.")
    if state.get("purpose") != purpose:
        raise PasskeyError("challenge for another purpose", "Start again: that passkey request was for something else.")
    if state.get("user_id") != (str(user.pk) if user is not None else None):
        raise PasskeyError("challenge for another account", "Start again: that request was for another account.")
    try:
        return _unb64url(str(state.get("challenge")))
    except (binascii.Error, ValueError):
        raise PasskeyError("unreadable challenge") from None


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for value in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue  # a transport this library does not know: the browser does without the hint
    return PublicKeyCredentialDescriptor(id=bytes(passkey.credential_id), transports=transports or None)


def _as_dict(options: Any) -> dict:
    return json.loads(options_to_json(options))


def user_handle(user: User) -> bytes:
    """The opaque WebAuthn user id: the account's UUID bytes (no email, no name)."""
    return user.pk.bytes


# --- Registration -----------------------------------------------------------------------


def registration_options(request: HttpRequest, user: User) -> dict:
    """Options for ``navigator.credentials.create()``; the account's passkeys are excluded.

    Discoverable credentials are asked for (so the passkey can later sign in without a
    password) and user verification preferred; ``excludeCredentials`` stops an
    authenticator that already holds one of this account's passkeys from making another.
    """
    existing = list(Passkey.objects.filter(user=user))
    if len(existing) >= MAX_PASSKEYS:
        raise PasskeyError("too many passkeys", f"An account can have at most {MAX_PASSKEYS} passkeys.")
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=settings.MFA_ISSUER,
        user_id=user_handle(user),
        user_name=user.email,
        user_display_name=user.name or user.email,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
    )
    _remember(request, challenge=options.challenge, purpose=REGISTER, user=user)
    return _as_dict(options)


def register(request: HttpRequest, user: User, *, credential: Any, name: str) -> Passkey:
    """Verify the browser's answer to :func:`registration_options` and store the passkey."""
    expected = take_challenge(request, purpose=REGISTER, user=user)
    parsed = _parse(parse_registration_credential_json, credential, "registration")
    try:
        verified = verify_registration_response(
            credential=parsed, expected_challenge=expected, expected_rp_id=rp_id(), expected_origin=origin()
        )
    except Exception as exc:  # noqa: BLE001 - py_webauthn raises several types on bad input
        logger.info("passkey registration refused: %s", exc)
        raise PasskeyError(f"registration refused: {str(exc)[:120]}") from None
    name = (name or "").strip()[:NAME_MAX_LENGTH] or default_name(user)
    transports = [str(t.value) for t in (parsed.response.transports or [])][:8]
    try:
        with transaction.atomic():
            return Passkey.objects.create(
                user=user,
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=transports,
                backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
                backup_state=verified.credential_backed_up,
                aaguid=verified.aaguid,
                name=name,
            )
    except IntegrityError:
        raise PasskeyError("credential already registered", "That passkey is already registered.") from None


def default_name(user: User) -> str:
    return f"Passkey {Passkey.objects.filter(user=user).count() + 1}"


# --- Authentication ---------------------------------------------------------------------


def authentication_options(request: HttpRequest, *, purpose: str, user: User | None = None) -> dict:
    """Options for ``navigator.credentials.get()``.

    Passwordless sign-in (``user`` None) lists no credential (the authenticator offers its
    discoverable passkeys) and requires user verification; a second step or a step-up
    lists the account's passkeys.
    """
    assert purpose in (LOGIN, SECOND_STEP, REAUTHENTICATE)
    allow = [_descriptor(p) for p in Passkey.objects.filter(user=user)] if user is not None else []
    options = generate_authentication_options(
        rp_id=rp_id(),
        timeout=TIMEOUT_MS,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED
        if purpose == LOGIN
        else UserVerificationRequirement.PREFERRED,
    )
    _remember(request, challenge=options.challenge, purpose=purpose, user=user)
    return _as_dict(options)


def _parse(parse: Callable[[Any], T], credential: Any, what: str) -> T:
    """py_webauthn's parse of the browser's JSON; any failure is a refusal, never a 500."""
    try:
        return parse(credential)
    except Exception as exc:  # noqa: BLE001 - client data of any shape: refusing it is the answer
        raise PasskeyError(f"malformed {what} ({type(exc).__name__})") from None


def authenticate(request: HttpRequest, *, purpose: str, credential: Any, user: User | None = None) -> Assertion:
    """Verify the browser's answer to :func:`authentication_options`.

    ``user`` is the account the ceremony is for (second step, step-up); None for a
    passwordless sign-in, where the passkey names its account (and its user handle must
    agree) and user verification is required: the passkey is then the only factor shown.
    """
    expected = take_challenge(request, purpose=purpose, user=user)
    parsed = _parse(parse_authentication_credential_json, credential, "assertion")
    passkey = Passkey.objects.select_related("user").filter(credential_id=parsed.raw_id).first()
    if passkey is None:
        raise PasskeyError("unknown credential")
    if user is not None and passkey.user_id != user.pk:
        raise PasskeyError("credential of another account")
    owner = passkey.user
    if not owner.is_active or owner.deleted_at is not None:
        raise PasskeyError("inactive account")
    handle = parsed.response.user_handle
    if handle is not None and handle != user_handle(owner):
        raise PasskeyError("user handle does not match the credential")
    require_uv = purpose == LOGIN
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=expected,
            expected_rp_id=rp_id(),
            expected_origin=origin(),
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=0,  # checked below, after the signature
            require_user_verification=require_uv,
        )
    except Exception as exc:  # noqa: BLE001 - py_webauthn raises several types on bad input
        logger.info("passkey assertion refused: %s", exc)
        raise PasskeyError(f"assertion refused: {str(exc)[:120]}") from None
    new_count = verified.new_sign_count
    if (new_count > 0 or passkey.sign_count > 0) and new_count <= passkey.sign_count:
        raise CounterRegressed(f"counter {new_count} not above {passkey.sign_count}")
    if (verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE) != passkey.backup_eligible:
        # Backup eligibility is fixed when a credential is made: a change means another credential.
        raise PasskeyError("backup eligibility changed")
    # Compare-and-set on the counter: of two answers racing with one counter value, one wins.
    updated = Passkey.objects.filter(pk=passkey.pk, sign_count=passkey.sign_count).update(
        sign_count=new_count, backup_state=verified.credential_backed_up, last_used_at=timezone.now()
    )
    if updated != 1:
        raise CounterRegressed("counter changed during verification")
    passkey.refresh_from_db()
    return Assertion(passkey=passkey, user=owner, user_verified=verified.user_verified)


def _credential_id_of(credential: Any) -> bytes | None:
    """The credential id an (unverified) answer names, or None. For throttling and audit only."""
    raw = credential.get("rawId") if isinstance(credential, dict) else None
    if not isinstance(raw, str) or len(raw) > 2048:
        return None
    try:
        return _unb64url(raw)
    except (binascii.Error, ValueError):
        return None


def owner_of(credential: Any) -> User | None:
    """The account whose passkey an answer claims to be (not verified: who to count it against)."""
    credential_id = _credential_id_of(credential)
    if not credential_id:
        return None
    passkey = Passkey.objects.select_related("user").filter(credential_id=credential_id).first()
    return passkey.user if passkey is not None else None


def passkey_id_of(credential: Any) -> str | None:
    credential_id = _credential_id_of(credential)
    if not credential_id:
        return None
    found = Passkey.objects.filter(credential_id=credential_id).values_list("pk", flat=True).first()
    return str(found) if found else None


# --- What a user has --------------------------------------------------------------------


def has_passkey(user: User) -> bool:
    """Whether the account has a passkey; no query when the sign-in's look-up annotated it."""
    joined = getattr(user, "joined_has_passkey", None)  # accounts.backends.EmailBackend
    if joined is not None:
        return bool(joined)
    return Passkey.objects.filter(user=user).exists()


def passkey_of(user: User, passkey_id: Any) -> Passkey | None:
    """One of the user's own passkeys; another account's (or none) is None, alike."""
    try:
        key = uuid.UUID(str(passkey_id))
    except ValueError:
        return None
    return Passkey.objects.filter(user=user, pk=key).first()
