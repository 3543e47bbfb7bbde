"""The request validator: where this project's OAuth rules meet django-oauth-toolkit.

What it adds to DOT's validator:

- a code is redeemed once, atomically; a replayed code revokes what it produced;
- a refresh token is exchanged once, atomically; a replay revokes its whole family
  (DOT's reuse protection, plus a unique row so two simultaneous refreshes cannot both
  win); a refresh chain has an absolute lifetime;
- tokens of inactive users are invalid at once;
- ``auth_time`` is when *this* session authenticated, not the user's last login;
- ``prompt=none`` is answered from the remembered consent;
- the password grant is refused outright (it is not even in the server).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from accounts import audit
from oauth.models import SpentRefreshToken, TokenFamily, digest
from oauth import consent

RefreshToken = get_refresh_token_model()


def _client_id(request) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "client_id", "") or getattr(request, "client_id", "") or ""


def _audit(event: str, request, outcome: str = audit.Outcome.SUCCESS, reason: str = "") -> None:
    user = getattr(request, "user", None)
    audit.record(
        event,
        outcome=outcome,
        actor=user if getattr(user, "pk", None) else None,
        client_id=_client_id(request),
        reason=reason,
    )


class Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "email_verified": "email",
        "name": "profile",
        "email": "email",
    }

    # --- Grants that do not exist ----------------------------------------------

    def validate_user(self, username, password, client, request, *args, **kwargs) -> bool:
        return False  # the password grant is not served; never check a password here

    # --- Authorization codes ----------------------------------------------------

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        TokenFamily.objects.create(
            application=request.client,
            user=request.user,
            code_digest=digest(code["code"]),
            auth_time=getattr(request, "auth_time", None),
        )

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        code_digest = digest(code)
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            self._revoke_replayed_code(code_digest, client, request)
            return False
        # Redeem atomically: of two simultaneous exchanges, exactly one updates the row.
        redeemed = TokenFamily.objects.filter(
            code_digest=code_digest, application=client, redeemed_at__isnull=True
        ).update(redeemed_at=timezone.now())
        if not redeemed:
            self._revoke_replayed_code(code_digest, client, request)
            return False
        family = TokenFamily.objects.get(code_digest=code_digest)
        request.auth_time = family.auth_time
        request.code_digest = code_digest
        return True

    def _revoke_replayed_code(self, code_digest: str, client, request) -> None:
        family = TokenFamily.objects.filter(code_digest=code_digest, application=client).first()
        if family is None or family.redeemed_at is None:
            return  # an unknown or expired code: nothing was issued from it
        if family.family:
            RefreshToken.revoke_family(family.family)
        request.user = family.user
        _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "authorization code replayed")

    # --- Refresh tokens -----------------------------------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            rt = RefreshToken.objects.filter(token_checksum=digest(refresh_token)).first()
            if rt is not None and rt.revoked is not None:
                request.user = rt.user
                _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "refresh token replayed")
            return False
        rt = request.refresh_token_instance
        if rt.user is not None and not rt.user.is_active:
            return False
        family = TokenFamily.objects.filter(family=rt.token_family).first()
        if family is not None:
            if family.started_at + timedelta(seconds=settings.REFRESH_TOKEN_ABSOLUTE_TTL) <= timezone.now():
                return False
            request.auth_time = family.auth_time
        return True

    def _spend_refresh_token(self, request) -> None:
        """Record the exchange of a refresh token; a second exchange is a replay."""
        checksum = digest(request.refresh_token)
        try:
            with transaction.atomic():
                SpentRefreshToken.objects.create(token_checksum=checksum)
        except IntegrityError:
            rt = getattr(request, "refresh_token_instance", None)
            if rt is not None and rt.token_family:
                RefreshToken.revoke_family(rt.token_family)
            _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "refresh token replayed")
            raise errors.InvalidGrantError(description="The refresh token was already used.", request=request)

    # --- Saving tokens ---------------------------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type == "refresh_token":
            self._spend_refresh_token(request)
        result = super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code" and token.get("refresh_token"):
            rt = RefreshToken.objects.get(token_checksum=digest(token["refresh_token"]), revoked__isnull=True)
            TokenFamily.objects.filter(code_digest=request.code_digest).update(family=rt.token_family)
        event = audit.Event.TOKEN_REFRESHED if request.grant_type == "refresh_token" else audit.Event.TOKEN_ISSUED
        _audit(event, request, reason=f"grant {request.grant_type}; scope {token.get('scope', '')}")
        return result

    # --- Using tokens -------------------------------------------------------------

    def validate_bearer_token(self, token, scopes, request) -> bool:
        if not super().validate_bearer_token(token, scopes, request):
            return False
        user = request.user
        if user is not None and (not user.is_active or user.is_deleted):
            request.oauth2_error = {"error": "invalid_token", "error_description": "The access token is invalid."}
            return False
        return True

    # --- OpenID Connect -----------------------------------------------------------

    def get_additional_claims(self, request) -> dict:
        user = request.user
        return {"name": user.name, "email": user.email, "email_verified": user.email_verified}

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        auth_time = getattr(request, "auth_time", None)
        if isinstance(auth_time, datetime):
            claims["auth_time"] = int(auth_time.astimezone(dt_timezone.utc).timestamp())
        return claims, expiration_time

    def validate_silent_login(self, request) -> bool:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated)

    def validate_silent_authorization(self, request) -> bool:
        return consent.is_covered(request.user, request.client, request.scopes)
