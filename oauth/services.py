"""Writes on personal access tokens. Each one is atomic; who may call them is the caller's check."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import audit
from accounts.models import User
from oauth import personal_tokens, tokens
from oauth.models import PersonalToken


@transaction.atomic
def personal_token_create(
    *,
    owner: User,
    name: str,
    scopes: list[str],
    expires_in_days: int,
    allowed_ips: list[str] | None = None,
    request: HttpRequest | None = None,
) -> tuple[PersonalToken, str]:
    """Create a token for ``owner``; returns it with its secret, which is never stored or shown again."""
    key_id, secret = personal_tokens.generate()
    now = timezone.now()
    personal_token = PersonalToken(
        owner=owner,
        name=name,
        key_id=key_id,
        secret_hash=personal_tokens.keyed_hash(secret),
        scopes=" ".join(personal_tokens.clean_scopes(scopes)),
        allowed_ips=personal_tokens.clean_networks(allowed_ips or []),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
    )
    personal_token.full_clean()
    personal_token.save()
    audit.record(
        audit.Event.TOKEN_ISSUED,
        request=request,
        actor=owner,
        target=personal_token.prefix,
        reason=f"personal access token created, scopes: {personal_token.scopes}",
    )
    return personal_token, secret


@transaction.atomic
def personal_token_revoke(
    *, personal_token: PersonalToken, acting_user: User, request: HttpRequest | None = None
) -> None:
    """Revoke one token (its owner's or, from the Django admin, an admin's act)."""
    if not tokens.revoke_personal_tokens(PersonalToken.objects.filter(pk=personal_token.pk)):
        return
    by = "its owner" if acting_user.pk == personal_token.owner_id else f"admin {acting_user.pk}"
    audit.record(
        audit.Event.TOKEN_REVOKED,
        request=request,
        actor=acting_user,
        target=personal_token.prefix,
        reason=f"personal access token revoked by {by}",
    )
