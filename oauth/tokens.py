"""The one owner of token revocation: OAuth tokens and personal access tokens.

Everything that ends a user's OAuth access calls :func:`revoke`: consent revoked at
``/accounts/apps/`` (one client), and, through :data:`accounts.signals.credentials_revoked`,
a password change or reset, deactivation and deletion (every client). Personal access
tokens are revoked by :func:`revoke_personal_tokens`: by their owner, by an admin, and on
the same signal. ``accounts`` sits below ``oauth`` and never touches token models itself.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model, get_refresh_token_model

from accounts import audit
from oauth import token_cache
from oauth.models import PersonalToken


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


def revoke_personal_tokens(tokens: QuerySet[PersonalToken]) -> int:
    """Mark these personal tokens revoked (the rows stay, for the record); how many were live.

    Their cache entries are tombstoned first (``oauth.token_cache``): a revoked token is
    refused on the very next request, and if the cache cannot be reached this raises before
    anything is written. Runs in the caller's transaction.
    """
    live = list(tokens.filter(revoked_at__isnull=True).values_list("pk", "key_id"))
    if not live:
        return 0
    token_cache.forget_keys([token_cache.personal_key(key_id) for _pk, key_id in live])
    return PersonalToken.objects.filter(pk__in=[pk for pk, _key_id in live]).update(revoked_at=timezone.now())


def on_credentials_revoked(sender, *, user, deleting: bool = False, **kwargs) -> None:
    revoke(user=user)
    revoked = revoke_personal_tokens(PersonalToken.objects.filter(owner=user))
    if revoked:
        audit.record(
            audit.Event.TOKEN_REVOKED,
            target=f"user {user.pk}: {revoked} personal access token(s)",
            reason="revoked with the account's credentials",
        )
    if deleting:
        # A deleted account's data goes (the contract): names and networks are the user's.
        PersonalToken.objects.filter(owner=user).delete()
