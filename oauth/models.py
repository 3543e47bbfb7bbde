"""What django-oauth-toolkit's own tables do not hold.

DOT's models are used as they are (not swapped): these tables sit beside them.

- ``ClientPolicy``: per client, the scopes it may ask for, whether it may introspect,
  and for machine clients the role and region they act with.
- ``Consent``: what a user approved for a client, remembered until revoked.
- ``TokenFamily``: one authorization (a code and the refresh chain that grew from it):
  when it started (absolute limit), when the user authenticated (``auth_time``), and
  the code's digest, so a replayed code revokes what it produced.
- ``SpentRefreshToken``: each refresh token can be exchanged once; the unique row makes
  two simultaneous exchanges a replay that at most one wins.
- ``PersonalToken``: a personal access token (``pat_...``) for scripts and CI, stored as a
  keyed hash only (``oauth/personal_tokens.py``).
"""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import Application

from accounts.models import Region, Role


def digest(value: str) -> str:
    """SHA-256 of a code or token: enough to recognise it, useless to replay."""
    return hashlib.sha256(value.encode()).hexdigest()


class ClientPolicy(models.Model):
    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="client_policy")
    scopes = models.CharField(max_length=255, help_text="Space-separated scopes this client may ask for.")
    role = models.CharField(
        max_length=16, choices=Role.choices, blank=True, help_text="Machine clients only: the role they act with."
    )
    region = models.CharField(max_length=2, choices=Region.choices, blank=True)
    can_introspect = models.BooleanField(default=False, help_text="A resource server that may call introspection.")

    class Meta:
        verbose_name = "client policy"
        verbose_name_plural = "client policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=[*Role.values, ""]), name="client_policy_role_valid"),
            models.CheckConstraint(
                condition=models.Q(region__in=[*Region.values, ""]), name="client_policy_region_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Policy of {self.application}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class Consent(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consents")
    scopes = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="consent_user_application")]

    def __str__(self) -> str:
        return f"{self.user} -> {self.application}: {self.scopes}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def covers(self, scopes: list[str]) -> bool:
        return set(scopes) <= set(self.scope_list)


class TokenFamily(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    code_digest = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(null=True, unique=True)
    auth_time = models.DateTimeField(null=True)
    amr = models.CharField(max_length=64, blank=True, help_text="How the user authenticated (session methods).")
    started_at = models.DateTimeField(default=timezone.now)
    redeemed_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name_plural = "token families"

    def __str__(self) -> str:
        return f"Token family {self.family or '(code not yet exchanged)'}"


class SpentRefreshToken(models.Model):
    token_checksum = models.CharField(max_length=64, unique=True)
    spent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Spent refresh token at {self.spent_at:%Y-%m-%d %H:%M:%S}"


class PersonalToken(models.Model):
    """A person's API key: their current permissions narrowed by ``scopes``, like an OAuth token.

    The secret is ``pat_<key_id>_<random>``; only ``key_id`` (the look-up key, not secret) and
    an HMAC-SHA256 of the whole secret under a server-side key are stored.
    """

    PREFIX = "pat_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.CharField(max_length=255, help_text="Space-separated scopes from the catalogue.")
    allowed_ips = models.JSONField(default=list, blank=True, help_text="CIDR networks; empty: any address.")
    seen_ips = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "personal access token"
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="personal_token_expires_after_creation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        """What identifies the token in lists and audit rows (never enough to use it)."""
        return f"{self.PREFIX}{self.key_id}"

    @property
    def scope(self) -> str:
        """The scopes as DOT's ``AccessToken.scope`` spells them (what ``TokenScope`` reads)."""
        return self.scopes

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
