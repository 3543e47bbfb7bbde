"""Who you are: the user account, its browser sessions and the audit log of security events."""

from __future__ import annotations

import uuid

from django.contrib import auth
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class Role(models.TextChoices):
    """The one role a user holds; what each role may do is decided in ``permissions``."""

    CUSTOMER = "customer", "Customer"
    SUPPORT = "support", "Support"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class Region(models.TextChoices):
    EU = "EU", "Europe"
    US = "US", "United States"


def normalize_email(email: str | None) -> str:
    """Email is the login name and is unique case-insensitively: store it lower-cased."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, email: str | None) -> User:
        return self.get(email=normalize_email(email), deleted_at__isnull=True)


class User(AbstractBaseUser):
    """An account. Never a Django superuser: every power comes from the role, through the policy."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    region = models.CharField(max_length=2, choices=Region.choices, blank=True)
    is_active = models.BooleanField(default=True)
    email_verified = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["-date_joined", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(region__in=[*Region.values, ""]), name="user_region_valid"
            ),
            # Every rule of a non-admin role is about a region (their orders are created in it).
            models.CheckConstraint(
                condition=models.Q(role=Role.ADMIN) | ~models.Q(region=""),
                name="user_region_unless_admin",
                violation_error_message="Every role but admin needs a region.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        if self.role != Role.ADMIN and not self.region:
            raise ValidationError({"region": f"The {self.role} role needs a region ({', '.join(Region.values)})."})

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("accounts:profile")

    # --- What Django's auth and admin ask of a user -------------------------

    @property
    def is_superuser(self) -> bool:
        """Always False: a superuser would skip every object rule of the policy."""
        return False

    @property
    def is_staff(self) -> bool:
        """The Django admin is for the admin role only."""
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def has_perm(self, perm: str, obj: models.Model | None = None) -> bool:
        if not self.is_active:
            return False
        return any(
            backend.has_perm(self, perm, obj)
            for backend in auth.get_backends()
            if hasattr(backend, "has_perm")
        )

    def has_perms(self, perm_list, obj: models.Model | None = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        if not self.is_active:
            return False
        return any(
            backend.has_module_perms(self, app_label)
            for backend in auth.get_backends()
            if hasattr(backend, "has_module_perms")
        )

    def get_all_permissions(self, obj: models.Model | None = None) -> set[str]:
        if not self.is_active:
            return set()
        permissions: set[str] = set()
        for backend in auth.get_backends():
            if hasattr(backend, "get_all_permissions"):
                permissions |= backend.get_all_permissions(self, obj)
        return permissions


class UserSession(models.Model):
    """One signed-in browser session, listed on the sessions page so it can be ended."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "id"]
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="usersession_user_seen")]

    def __str__(self) -> str:
        return f"{self.user} from {self.ip or 'unknown'}"


class AuditEvent(models.Model):
    """A security event. Never holds a password, token, code or secret."""

    class Type(models.TextChoices):
        LOGIN_SUCCEEDED = "login_succeeded", "Sign-in succeeded"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOGIN_THROTTLED = "login_throttled", "Sign-in throttled"
        LOGOUT = "logout", "Signed out"
        REGISTERED = "registered", "Registered"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
        PASSWORD_RESET = "password_reset", "Password reset"
        SESSION_REVOKED = "session_revoked", "Session revoked"
        SESSION_EXPIRED = "session_expired", "Session expired"
        THROTTLED = "throttled", "Request throttled"
        ROLE_CHANGED = "role_changed", "Role or region changed"
        USER_DEACTIVATED = "user_deactivated", "User deactivated"
        USER_REACTIVATED = "user_reactivated", "User reactivated"
        USER_DELETED = "user_deleted", "User deleted"
        ACCESS_DENIED = "access_denied", "Access denied"
        CONSENT_GRANTED = "consent_granted", "Consent granted"
        CONSENT_DENIED = "consent_denied", "Consent denied"
        TOKEN_ISSUED = "token_issued", "Token issued"
        TOKEN_REFRESHED = "token_refreshed", "Token refreshed"
        TOKEN_REVOKED = "token_revoked", "Token revoked"
        TOKEN_REUSE_DETECTED = "token_reuse_detected", "Token reuse detected"
        FACTOR_ADDED = "factor_added", "Second factor added"
        FACTOR_REMOVED = "factor_removed", "Second factor removed"
        FACTOR_USED = "factor_used", "Second factor used"
        SECOND_STEP_FAILED = "second_step_failed", "Second step failed"
        RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used"
        RECOVERY_CODES_GENERATED = "recovery_codes_generated", "Recovery codes generated"
        REAUTHENTICATED = "reauthenticated", "Authenticated again (step-up)"
        REAUTH_FAILED = "reauth_failed", "Step-up failed"
        TOKEN_NEW_ADDRESS = "token_new_address", "Token used from a new address"
        PASSKEY_RENAMED = "passkey_renamed", "Passkey renamed"
        PASSKEY_COUNTER_REGRESSED = "passkey_counter_regressed", "Passkey counter went backwards"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    event = models.CharField(max_length=32, choices=Type.choices)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    client_id = models.CharField(max_length=100, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    target = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    # How many occurrences this row stands for: 1, except for a folded event (throttled
    # sign-ins: one row per throttle bucket and window, see accounts.audit.record_folded).
    count = models.PositiveIntegerField(default=1)
    # What a folded event is folded on (the throttle bucket's cache key, window included);
    # null for every other event.
    fold_key = models.CharField(max_length=100, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="audit_actor_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["fold_key"], condition=models.Q(fold_key__isnull=False), name="audit_fold_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.event} {self.outcome}"


class TotpDevice(models.Model):
    """A confirmed authenticator app (RFC 6238). One per account.

    The secret is stored encrypted (``accounts.factors``, a key derived from SECRET_KEY)
    and never shown again after set-up. ``last_used_step`` is the 30-second step of the
    last accepted code: a code for that step or an earlier one is refused (no replay).
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    encrypted_secret = models.TextField(editable=False)
    last_used_step = models.BigIntegerField(default=-1, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Authenticator app of {self.user}"


class RecoveryCode(models.Model):
    """One single-use recovery code, stored as a keyed hash; a new set replaces the old."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_user_hash")]

    def __str__(self) -> str:
        return f"Recovery code of {self.user} ({'used' if self.used_at else 'unused'})"


class Passkey(models.Model):
    """A WebAuthn credential (passkey or security key) registered to an account.

    ``credential_id`` is the authenticator's id for it (unique across the site: one
    authenticator credential belongs to one account) and ``public_key`` its COSE key.
    ``sign_count`` is the authenticator's signature counter: every use must raise it
    (both zero means the authenticator keeps no counter), otherwise the credential may
    have been cloned. ``backup_eligible`` is fixed for the credential's life (a synced
    passkey); ``backup_state`` says whether it is backed up now (updated on each use).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.BinaryField(max_length=1023, unique=True, editable=False)
    public_key = models.BinaryField(editable=False)
    sign_count = models.PositiveBigIntegerField(default=0, editable=False)
    transports = models.JSONField(default=list, blank=True, editable=False)
    backup_eligible = models.BooleanField(default=False, editable=False)
    backup_state = models.BooleanField(default=False, editable=False)
    aaguid = models.CharField(max_length=36, blank=True, editable=False)
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"], name="passkey_user_created")]

    def __str__(self) -> str:
        return f"Passkey {self.name!r} of {self.user}"
