"""Remembered consent: what a user approved for a client, until they revoke it."""

from __future__ import annotations

from django.db import transaction

from oauth import tokens
from oauth.models import Consent


def is_covered(user, application, scopes, redirect_uri: str) -> bool:
    """Has the user approved every one of these scopes for this client (or needs none)?

    Never for a redirect URI that another program could own (``is_identified_by``): the
    approval was given to the client, not to whatever answers on that URI.
    """
    if not is_identified_by(application, redirect_uri):
        return False
    if application.skip_authorization:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    consent = Consent.objects.filter(user=user, application=application).first()
    return consent is not None and consent.covers(list(scopes))


def is_identified_by(application, redirect_uri: str) -> bool:
    """Does a response sent to this redirect URI reach only this client?

    A registered loopback URI accepts any port (RFC 8252 7.3), so for a public client a
    loopback URI on another port may be any local process: it proves nothing about who
    is asking (RFC 8252 8.6, RFC 6749 10.2), and such a request is never authorized
    without the user seeing the consent page. A confidential client proves itself at the
    token endpoint with its secret; a public client's exactly registered URI (its
    registered port included) is its own.
    """
    if application.client_type != application.CLIENT_PUBLIC:
        return True
    return redirect_uri in application.redirect_uris.split()


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
