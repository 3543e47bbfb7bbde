"""Writes on accounts. Each one is atomic; access checks happen before, in the caller."""

from __future__ import annotations

import uuid

from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import audit, factors, mail, passkeys, sessions
from accounts.models import Passkey, RecoveryCode, Role, TotpDevice, User
from accounts.security_mail import factor_mail
from accounts.signals import credentials_revoked

Event = audit.Event


def revoke_credentials(user: User, *, except_session_key: str | None = None, deleting: bool = False) -> None:
    """End the user's sessions (all, or all but one) and revoke every token.

    Tokens belong to ``oauth``, which revokes them on :data:`credentials_revoked`, sent
    here inside the caller's transaction: they go together or not at all. ``deleting``:
    the account is being deleted, so what it owns goes too, not only its validity.
    """
    sessions.end_all(user, except_key=except_session_key)
    credentials_revoked.send(sender=User, user=user, deleting=deleting)


@transaction.atomic
def user_register(*, email: str, name: str, region: str, password: str, request: HttpRequest | None = None) -> User:
    """Create a self-registered account: always a customer, in the region chosen."""
    user = User.objects.create_user(email=email, password=password, name=name, region=region, role=Role.CUSTOMER)
    audit.record(Event.REGISTERED, request=request, actor=user)
    return user


@transaction.atomic
def user_create(*, email: str, password: str, role: str, region: str = "", name: str = "") -> User:
    """Create an account with a given role (management command, seeding)."""
    return User.objects.create_user(email=email, password=password, role=role, region=region, name=name)


def password_change(*, request: HttpRequest, user: User, new_password: str) -> None:
    """Set a new password; keep this session, end every other one and revoke every token."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        old_key = request.session.session_key
        update_session_auth_hash(request, user)  # rotates this session's key
        request.session.save()  # the new key's row, in this transaction (not only at the response)
        sessions.rekey(old_key, request.session.session_key)
        revoke_credentials(user, except_session_key=request.session.session_key)
        audit.record(Event.PASSWORD_CHANGED, request=request, actor=user)


def password_reset_complete(*, request: HttpRequest, user: User) -> None:
    """After a reset by email: every session ends and every token is revoked."""
    with transaction.atomic():
        revoke_credentials(user)
        if not user.email_verified:
            # Following the emailed link proved control of the address.
            user.email_verified = True
            user.save(update_fields=["email_verified"])
        audit.record(Event.PASSWORD_RESET, request=request, actor=user)


@transaction.atomic
def user_update(
    *,
    user: User,
    acting_user: User,
    request: HttpRequest | None = None,
    role: str | None = None,
    region: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change role, region or active state; takes effect on the user's next request."""
    user = User.objects.select_for_update().get(pk=user.pk)
    changes: list[str] = []
    if role is not None and role != user.role:
        changes.append(f"role {user.role} -> {role}")
        user.role = role
    if region is not None and region != user.region:
        changes.append(f"region {user.region or '-'} -> {region or '-'}")
        user.region = region
    deactivated = is_active is False and user.is_active
    reactivated = is_active is True and not user.is_active
    if is_active is not None:
        user.is_active = is_active
    user.full_clean(exclude=["password"])
    user.save()
    if changes:
        audit.record(
            Event.ROLE_CHANGED, request=request, actor=acting_user, target=f"user:{user.pk}", reason="; ".join(changes)
        )
    if deactivated:
        revoke_credentials(user)
        audit.record(Event.USER_DEACTIVATED, request=request, actor=acting_user, target=f"user:{user.pk}")
    if reactivated:
        audit.record(Event.USER_REACTIVATED, request=request, actor=acting_user, target=f"user:{user.pk}")
    return user


@transaction.atomic
def user_delete(*, user: User, acting_user: User, request: HttpRequest | None = None) -> None:
    """Scrub an account: personal data, credentials, sessions and tokens go; its records stay.

    The row itself stays as a placeholder so orders, refund requests and audit events
    keep pointing at the same owner id. Its email is freed for a new registration.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    revoke_credentials(user, deleting=True)
    TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    Passkey.objects.filter(user=user).delete()
    user.email = f"deleted-{uuid.uuid4().hex}@deleted.invalid"
    user.name = ""
    user.is_active = False
    user.email_verified = False
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    user.save()
    audit.record(Event.USER_DELETED, request=request, actor=acting_user, target=f"user:{user.pk}")


# --- Second factors (callers have checked step-up: accounts.reauth) -------------------


def totp_enable(*, user: User, secret: str, code: str, request: HttpRequest | None = None) -> list[str] | None:
    """Confirm an authenticator with its first code and store it (encrypted).

    Returns the new recovery codes when the account had none (shown once), ``[]`` when it
    kept its set, and None when the code is wrong. The confirming code's step is recorded,
    so that very code cannot then be replayed to sign in.
    """
    step = factors.matching_step(secret, code)
    if step is None:
        return None
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        TotpDevice.objects.filter(user=user).delete()
        TotpDevice.objects.create(user=user, encrypted_secret=factors.encrypt_secret(secret), last_used_step=step)
        codes = [] if factors.recovery_codes_left(user) else _replace_recovery_codes(user)
        audit.record(Event.FACTOR_ADDED, request=request, actor=user, reason=factors.TOTP)
        mail.send_later(factor_mail, user_id=str(user.pk), change="totp_added")
    return codes


@transaction.atomic
def totp_disable(*, user: User, request: HttpRequest | None = None) -> bool:
    """Remove the authenticator and, with no factor left, the recovery codes."""
    removed, _ = TotpDevice.objects.filter(user=user).delete()
    if not removed:
        return False
    if not passkeys.has_passkey(user):
        RecoveryCode.objects.filter(user=user).delete()
    audit.record(Event.FACTOR_REMOVED, request=request, actor=user, reason=factors.TOTP)
    mail.send_later(factor_mail, user_id=str(user.pk), change="totp_removed")
    return True


@transaction.atomic
def recovery_codes_regenerate(*, user: User, request: HttpRequest | None = None) -> list[str]:
    """A new set of recovery codes; the old set dies. The codes are returned once, never stored."""
    codes = _replace_recovery_codes(user)
    audit.record(Event.RECOVERY_CODES_GENERATED, request=request, actor=user, reason=f"{len(codes)} codes")
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = factors.new_recovery_codes()
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=factors.hash_recovery_code(c)) for c in codes)
    return codes


class LastFactorRequired(Exception):
    """Removing this factor would leave a role that needs one (``MFA_REQUIRED_ROLES``) without any."""

    message = "Your role needs a second factor: add another passkey or an authenticator app before removing this one."


def passkey_register(
    *, user: User, request: HttpRequest, credential: object, name: str
) -> tuple[Passkey, list[str]]:
    """Verify a registration ceremony (``accounts.passkeys``) and keep the new passkey.

    Returns the passkey and, as :func:`totp_enable` does, new recovery codes when the account
    had none (shown once; ``[]`` when it kept its set): a passkey-only account must not be
    one lost device away from being locked out. Raises ``passkeys.PasskeyError`` when the
    answer is refused (audited here).
    """
    try:
        with transaction.atomic():  # the passkey, its codes and its audit row land together
            User.objects.select_for_update().get(pk=user.pk)  # two first factors at once: one set of codes
            passkey = passkeys.register(request, user, credential=credential, name=name)
            codes = [] if factors.recovery_codes_left(user) else _replace_recovery_codes(user)
            target = f"passkey:{passkey.pk}"
            audit.record(Event.FACTOR_ADDED, request=request, actor=user, target=target, reason=factors.PASSKEY)
    except passkeys.PasskeyError as error:
        audit.record(
            Event.FACTOR_ADDED, outcome=audit.Outcome.FAILURE, request=request, actor=user,
            reason=f"passkey: {error.reason}",
        )
        raise
    mail.send_later(factor_mail, user_id=str(user.pk), change="passkey_added")
    return passkey, codes


@transaction.atomic
def passkey_rename(*, passkey: Passkey, name: str, request: HttpRequest | None = None) -> Passkey:
    old = passkey.name
    passkey.name = name.strip()[: passkeys.NAME_MAX_LENGTH] or old
    passkey.full_clean()
    passkey.save(update_fields=["name"])
    audit.record(
        Event.PASSKEY_RENAMED, request=request, actor=passkey.user, target=f"passkey:{passkey.pk}",
        reason=f"{old} -> {passkey.name}",
    )
    return passkey


@transaction.atomic
def passkey_remove(*, passkey: Passkey, request: HttpRequest | None = None) -> None:
    """Remove a passkey; refused when it is the last factor of a role that needs one.

    The account row is locked first, so two removals at once cannot both see "one left".
    With no factor left at all, the recovery codes go too (as with the authenticator app).
    """
    user = User.objects.select_for_update().get(pk=passkey.user_id)
    others = Passkey.objects.filter(user=user).exclude(pk=passkey.pk).exists() or factors.has_totp(user)
    if not others and factors.requires_second_factor(user):
        raise LastFactorRequired()
    Passkey.objects.filter(pk=passkey.pk).delete()
    if not others:
        RecoveryCode.objects.filter(user=user).delete()
    audit.record(
        Event.FACTOR_REMOVED, request=request, actor=user, target=f"passkey:{passkey.pk}", reason=factors.PASSKEY
    )
    mail.send_later(factor_mail, user_id=str(user.pk), change="passkey_removed")
