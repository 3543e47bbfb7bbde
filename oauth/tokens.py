"""The one owner of OAuth token revocation.

Everything that ends a user's OAuth access calls :func:`revoke`: consent revoked at
``/accounts/apps/`` (one client), and, through :data:`accounts.signals.credentials_revoked`,
a password change or reset, deactivation and deletion (every client). ``accounts`` sits
below ``oauth`` and never touches django-oauth-toolkit's models itself.
"""

from __future__ import annotations

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model, get_refresh_token_model


def revoke(*, user, application=None) -> None:
    """Revoke every token and pending authorization code of the user (for one client, or all).

    Refresh tokens are marked revoked (so a later replay is recognised as one); access
    tokens, ID tokens and codes are deleted. Runs in the caller's transaction.
    """
    mine = {"user": user} if application is None else {"user": user, "application": application}
    get_refresh_token_model().objects.filter(**mine, revoked__isnull=True).update(revoked=timezone.now())
    get_access_token_model().objects.filter(**mine).delete()
    get_id_token_model().objects.filter(**mine).delete()
    get_grant_model().objects.filter(**mine).delete()


def on_credentials_revoked(sender, *, user, **kwargs) -> None:
    revoke(user=user)
