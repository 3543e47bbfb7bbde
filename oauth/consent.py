"""Remembered consent: what a user approved for a client, until they revoke it."""

from __future__ import annotations

from django.db import transaction

from oauth import tokens
from oauth.models import Consent


def is_covered(user, application, scopes) -> bool:
    """Has the user approved every one of these scopes for this client (or needs none)?"""
    if application.skip_authorization:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    consent = Consent.objects.filter(user=user, application=application).first()
    return consent is not None and consent.covers(list(scopes))


@transaction.atomic
def remember(user, application, scopes) -> Consent:
    """Add the approved scopes to what the user has granted the client."""
    consent, _created = Consent.objects.select_for_update().get_or_create(
        user=user, application=application, defaults={"scopes": ""}
    )
    consent.scopes = " ".join(sorted(set(consent.scope_list) | set(scopes)))
    consent.save()
    return consent


@transaction.atomic
def revoke(user, application) -> None:
    """Forget the consent and kill every token and pending code of that client for the user."""
    Consent.objects.filter(user=user, application=application).delete()
    tokens.revoke(user=user, application=application)
