"""The request validator: where this project's OAuth rules meet django-oauth-toolkit.

What it adds to DOT's validator:

- a code is redeemed once, atomically; a replayed code revokes what it produced;
- a refresh token is exchanged once, atomically; a replay revokes its whole family
  (DOT's reuse protection, plus a unique row so two simultaneous refreshes cannot both
  win); it is spent in the transaction that issues its successors, after every check, so
  a refused refresh (or an outage while issuing) leaves it usable; a refresh chain has an
  absolute lifetime;
- a refresh gets at most what the client may still ask for and the user still approves;
- the token endpoint counts an authenticated client's requests (per client; a public
  client per IP and client, since anyone can name it);
- tokens of inactive users are invalid at once;
- ``auth_time`` is when *this* session authenticated, not the user's last login;
- ``prompt=none`` is answered from the remembered consent;
- the password grant is refused outright (it is not even in the server).
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from accounts import audit, throttles
from accounts.net import client_ip
from core import rows
from core.rows import column, table
from oauth import consent, signing, token_cache
from oauth.models import Consent, SpentRefreshToken, TokenFamily, digest

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()
IDToken = get_id_token_model()
User = get_user_model()

# The grants whose ID token this module signs and stores itself (the token endpoint's).
ID_TOKEN_GRANTS = ("authorization_code", "refresh_token")


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


def _revoke_family(token_family) -> None:
    """Revoke a refresh family while holding its TokenFamily row.

    A rotation of the same family takes that lock first too (``_lock_family``),
    so a replay's revocation either runs after the rotation committed (and revokes the new
    refresh token as well) or before it (and the rotation then refuses).
    """
    with transaction.atomic():
        _hold_family(token_family)
        RefreshToken.revoke_family(token_family)


def _hold_family(token_family) -> None:
    """Inside a transaction: lock a family's TokenFamily row until it ends (on PostgreSQL;
    SQLite runs one writing transaction at a time)."""
    sql = f"SELECT 1 FROM {table(TokenFamily)} WHERE {column(TokenFamily, 'family')} = %s"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    family = TokenFamily._meta.get_field("family").get_db_prep_value(token_family, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [family])


def load_client_row(client_id: str):
    """A client with its policy in one statement, or None (also for a NUL byte PostgreSQL refuses)."""
    Application = get_application_model()
    try:
        return Application.objects.select_related("client_policy").filter(client_id=client_id).first()
    except ValueError:
        return None


def may_use_tokens(user) -> bool:
    """Can this user's tokens be used (and introspected as active)? Client tokens have no user."""
    return user is None or (user.is_active and not user.is_deleted)


# The session's methods (accounts.login, accounts.factors) as RFC 8176 values.
# ``uv``: the passkey's authenticator verified the user (PIN, biometric), RFC 8176 ``user``.
RFC8176 = {"pwd": "pwd", "totp": "otp", "recovery_code": "otp", "passkey": "hwk", "uv": "user"}


def rfc8176_amr(methods: list[str]) -> list[str]:
    """``amr`` of an ID token: each method's RFC 8176 value, and ``mfa`` with two factors.

    A passkey with user verification is two (``hwk`` + ``user``: the device, and the PIN or
    biometric it checked), so a passwordless passkey sign-in is ``mfa`` too; see
    ``accounts.login.attempt_passkey_login``.
    """
    values = sorted({RFC8176[m] for m in methods if m in RFC8176})
    return [*values, "mfa"] if len(values) >= 2 else values


class TokenRequestThrottled(errors.OAuth2Error):
    """429 from the token endpoint, in the RFC 6749 error format, with ``Retry-After``."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, wait: int, **kwargs):
        super().__init__(**kwargs)
        self.wait = wait

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait)}


class _Replayed(Exception):
    """Inside the save transaction: this refresh token was spent by another exchange."""


class _Meta:
    """What :func:`accounts.net.client_ip` reads, from an oauthlib request (DOT copies META)."""

    def __init__(self, headers) -> None:
        self.META = headers


def _as_request(request) -> HttpRequest:
    # client_ip and django-ratelimit read only ``.META``, which _Meta provides.
    return cast(HttpRequest, _Meta(request.headers))


@functools.cache
def _refresh_token_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    family, consent = quote("f"), quote("c")
    rt = quote("rt")
    return (
        f"SELECT {rows.columns(RefreshToken, 'rt')}, {rows.columns(AccessToken, 'at')}, "
        f"{rows.columns(User, 'u')}, "
        f"{family}.{column(TokenFamily, 'started_at')}, {family}.{column(TokenFamily, 'auth_time')}, "
        f"{family}.{column(TokenFamily, 'amr')}, {consent}.{column(Consent, 'scopes')} "
        f"FROM {table(RefreshToken)} {rt} "
        f"INNER JOIN {table(User)} {quote('u')} "
        f"ON {quote('u')}.{column(User, 'id')} = {rt}.{column(RefreshToken, 'user')} "
        f"LEFT OUTER JOIN {table(AccessToken)} {quote('at')} "
        f"ON {quote('at')}.{column(AccessToken, 'id')} = {rt}.{column(RefreshToken, 'access_token')} "
        f"LEFT OUTER JOIN {table(TokenFamily)} {family} "
        f"ON {family}.{column(TokenFamily, 'family')} = {rt}.{column(RefreshToken, 'token_family')} "
        f"LEFT OUTER JOIN {table(Consent)} {consent} "
        f"ON {consent}.{column(Consent, 'user')} = {rt}.{column(RefreshToken, 'user')} "
        f"AND {consent}.{column(Consent, 'application')} = {rt}.{column(RefreshToken, 'application')} "
        f"WHERE {rt}.{column(RefreshToken, 'token_checksum')} = %s "
        # Several rows may share a checksum (DOT's uniqueness is checksum and revoked): the
        # live one first.
        f"ORDER BY ({rt}.{column(RefreshToken, 'revoked')} IS NULL) DESC, {rt}.{column(RefreshToken, 'revoked')} DESC "
        "LIMIT 1"
    )


@functools.cache
def _grant_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    grant, user, family = quote("g"), quote("u"), quote("f")
    return (
        f"SELECT {rows.columns(Grant, 'g')}, {rows.columns(User, 'u')}, "
        f"{family}.{column(TokenFamily, 'auth_time')}, {family}.{column(TokenFamily, 'amr')} "
        f"FROM {table(Grant)} {grant} "
        f"INNER JOIN {table(User)} {user} ON {user}.{column(User, 'id')} = {grant}.{column(Grant, 'user')} "
        f"LEFT OUTER JOIN {table(TokenFamily)} {family} ON {family}.{column(TokenFamily, 'code_digest')} = %s "
        f"WHERE {grant}.{column(Grant, 'code')} = %s"
    )


def _grant_row(code: str):
    """The code's row with its user, and as attributes how the user authenticated
    (``family_auth_time``, ``family_amr``: recorded with the code by
    ``save_authorization_code``): one statement, written directly (``core.rows``)."""
    row = rows.fetch_one(_grant_sql(connection.vendor), [digest(code), code])
    if row is None:
        return None
    grant = rows.instance_from(Grant, "g", row)
    offset = rows.width(Grant)
    grant.user = rows.instance_from(User, "u", row, offset)
    auth_time, amr = row[offset + rows.width(User) :]
    grant.family_auth_time = rows.convert(TokenFamily._meta.get_field("auth_time"), auth_time)
    grant.family_amr = amr
    return grant


def _refresh_token_row(checksum: str):
    """The refresh token with its access token and user, and as attributes its family's
    ``family_started_at``, ``family_auth_time``, ``family_amr`` and the user's
    ``consented_scopes`` for its client: one statement, written directly (``core.rows``:
    the ORM spent more CPU building and compiling this join than running it)."""
    row = rows.fetch_one(_refresh_token_sql(connection.vendor), [checksum])
    if row is None:
        return None
    rt = rows.instance_from(RefreshToken, "rt", row)
    offset = rows.width(RefreshToken)
    rt.access_token = rows.joined_instance_from(AccessToken, "at", row, offset)
    offset += rows.width(AccessToken)
    rt.user = rows.instance_from(User, "u", row, offset)
    started_at, auth_time, amr, consented = row[offset + rows.width(User) :]
    rt.family_started_at = rows.convert(TokenFamily._meta.get_field("started_at"), started_at)
    rt.family_auth_time = rows.convert(TokenFamily._meta.get_field("auth_time"), auth_time)
    rt.family_amr = amr
    rt.consented_scopes = consented
    return rt


class Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "email_verified": "email",
        "name": "profile",
        "email": "email",
    }

    # --- The client's row ------------------------------------------------------------

    def _load_application(self, client_id, request):
        """DOT's look-up of the client, through the client cache (``oauth.token_cache``).

        DOT re-checks what it gets (the client id, ``is_usable``) and reads the database
        itself when nothing is found, so an unknown id behaves exactly as before.
        """
        if not request.client and isinstance(client_id, str):
            request.client = token_cache.load_client(client_id, load_client_row)
        return super()._load_application(client_id, request)

    # --- Client authentication (token endpoint) -------------------------------------
    #
    # The view counts every token request per IP before anything is read. Only a client
    # that has authenticated is counted per client: otherwise anyone naming a client id
    # could use up that client's budget. A public client authenticates with its id alone,
    # which anyone can send, so its budget is per IP and client.

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        self._count_client_request(request)
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs) -> bool:
        if not super().authenticate_client_id(client_id, request, *args, **kwargs):
            return False
        self._count_client_request(request)
        return True

    def _count_client_request(self, request) -> None:
        client = request.client
        key = client.client_id
        if client.client_type != client.CLIENT_CONFIDENTIAL:
            key = f"{client_ip(_as_request(request))}|{key}"
        wait = throttles.hit(
            _as_request(request), group="oauth:token:client", key=key, rate=settings.TOKEN_RATE_PER_CLIENT
        )
        if wait is not None:
            raise TokenRequestThrottled(wait, description="Too many token requests for this client.", request=request)

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
            amr=" ".join(getattr(request, "amr", None) or []),
        )

    @staticmethod
    def _grant_for(code: str, request):
        """The code's row with its user and its family's sign-in, read once per request (DOT read
        the code four times, and we its family once more).

        Kept on the request: a simultaneous exchange may delete the row before oauthlib's
        later look-ups (scopes, nonce, redirect URI, PKCE), which must then not fail with a 500.
        """
        grant = getattr(request, "grant", None)
        if grant is None or grant.code != code:
            grant = _grant_row(code)
            request.grant = grant
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request) -> list[str]:
        grant = self._grant_for(code, request)
        return grant.scope.split() if grant is not None and grant.scope else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant_for(code, request)
        return (grant.nonce or None) if grant is not None else None

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        """DOT's check (the client's own, unexpired code), on the row read once."""
        code_digest = digest(code)
        grant = self._grant_for(code, request)
        if grant is None or grant.application_id != client.pk:
            request.grant = None  # another client's code is no code at all
            self._revoke_replayed_code(code_digest, client, request)
            return False
        if grant.is_expired():
            self._revoke_replayed_code(code_digest, client, request)
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        request.auth_time = grant.family_auth_time
        request.amr = (grant.family_amr or "").split()
        request.code_digest = code_digest
        return True

    def _redeem_code(self, request) -> bool:
        """Inside the save transaction: of two exchanges of one code, exactly one updates the row.

        Redeeming here, after PKCE and the redirect URI were checked, means a client's
        mistaken attempt (wrong code_verifier) does not burn the code. The same statement
        records the family the code's refresh token will start (``_create_refresh_token``),
        which a replay of the code revokes, and the next deletes the code.
        """
        request.token_family = uuid.uuid4()
        family_fields = TokenFamily._meta
        values = [
            family_fields.get_field("redeemed_at").get_db_prep_save(timezone.now(), connection),
            family_fields.get_field("family").get_db_prep_save(request.token_family, connection),
            request.code_digest,
        ]
        with connection.cursor() as cursor:
            # Redeemed unless another exchange did; the family recorded with it.
            cursor.execute(rows.claim_sql(TokenFamily, "redeemed_at", by="code_digest", also=("family",)), values)
            if cursor.rowcount != 1:
                return False
            # The code's row goes in the same transaction (DOT deleted it after the save, in a
            # transaction of its own through the ORM's collector): invalidate_authorization_code.
            cursor.execute(rows.delete_sql(Grant), [request.grant.pk])
        request.grant_deleted = True
        return True

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """Nothing left to do when the save deleted the code (``_redeem_code``); DOT's otherwise."""
        if not getattr(request, "grant_deleted", False):
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)

    @staticmethod
    def _validated_grant(request):
        grant = getattr(request, "grant", None)
        if grant is None:
            raise errors.InvalidGrantError(description="The authorization code is invalid.", request=request)
        return grant

    def get_code_challenge(self, code, request):
        return self._validated_grant(request).code_challenge or None

    def get_code_challenge_method(self, code, request):
        return self._validated_grant(request).code_challenge_method or None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs) -> bool:
        if not self._validated_grant(request).redirect_uri_allowed(redirect_uri):
            # RFC 6749 5.2: a grant that does not match the redirection URI of its
            # authorization request is invalid_grant (oauthlib would say invalid_request).
            raise errors.InvalidGrantError(
                description="The redirect_uri does not match the authorization request.", request=request
            )
        return True

    def _check_and_set_request_resource(self, request) -> None:
        """RFC 8707 at the token endpoint: DOT's checks, with the code's row read once.

        DOT normalises and checks the request's ``resource`` for every grant, then for a code
        reads the code's row again to narrow to (or inherit) the resources recorded with it.
        Its first part runs as it is; the second on the row ``_grant_for`` read, the same code,
        already checked to be this client's (``validate_code``).
        """
        if request.grant_type != "authorization_code":
            return super()._check_and_set_request_resource(request)
        request.grant_type = "(resource only)"  # DOT's method then skips its per-grant part
        try:
            super()._check_and_set_request_resource(request)
        finally:
            request.grant_type = "authorization_code"
        recorded = self._validated_grant(request).resource or []
        if not recorded:
            return None
        if not request.resource:
            self._validate_resource_uris(request, recorded)
            request.resource = recorded
            return None
        for resource in request.resource:
            if resource not in recorded:
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"The requested resource '{resource}' was not named in the authorization request.",
                    request=request,
                )
        return None

    def _revoke_replayed_code(self, code_digest: str, client, request) -> None:
        family = TokenFamily.objects.filter(code_digest=code_digest, application=client).first()
        if family is None or family.redeemed_at is None:
            return  # an unknown or expired code: nothing was issued from it
        if family.family:
            _revoke_family(family.family)
        request.user = family.user
        _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "authorization code replayed")

    # --- Refresh tokens -----------------------------------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """DOT's checks and ours, on one statement (DOT read the token, then its user, then its
        client; we then read its family and the user's consent): ``_refresh_token_row``.

        DOT's rules, with this project's settings (rotation, reuse protection, no grace period):
        a revoked token revokes its whole family; a live one needs its access token (it is
        dead ``REFRESH_TOKEN_EXPIRE_SECONDS`` after that one expires) and must be the client's.
        Ours: a user who may no longer use tokens, and a chain past its absolute lifetime, are
        refused; a revoked token that was exchanged before is a replay, and audited as one (one
        revoked at ``/o/revoke_token/`` or by a sign-out everywhere and then tried is not).
        """
        rt = _refresh_token_row(digest(refresh_token))
        if rt is None:
            return False
        if rt.revoked is not None:
            if rt.token_family:
                _revoke_family(rt.token_family)
            if SpentRefreshToken.objects.filter(token_checksum=rt.token_checksum).exists():
                request.user = rt.user
                _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "refresh token replayed")
            return False
        if rt.access_token is None or not may_use_tokens(rt.user):
            return False
        now = timezone.now()
        lifetime = refresh_token_expire_timedelta()
        if lifetime and rt.access_token.expires + lifetime <= now:
            return False
        if rt.family_started_at is not None:
            if rt.family_started_at + timedelta(seconds=settings.REFRESH_TOKEN_ABSOLUTE_TTL) <= now:
                return False
            request.auth_time = rt.family_auth_time
            request.amr = rt.family_amr.split()
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        return rt.application_id == client.pk

    def get_original_scopes(self, refresh_token, request, *args, **kwargs) -> list[str]:
        """The scopes a refresh may still carry: the token's, narrowed to what is allowed now.

        oauthlib issues these when the request names no scope, and refuses with
        ``invalid_scope`` a requested scope outside them. A client whose allowed scopes were
        cut, or a user whose approval no longer covers a scope, gets the intersection. The
        token, its access token and the consent were read by ``validate_refresh_token``.
        """
        rt = request.refresh_token_instance
        original = rt.access_token.scope.split()
        allowed = set(get_scopes_backend().get_available_scopes(application=request.client, request=request))
        if not request.client.skip_authorization:
            allowed &= set((rt.consented_scopes or "").split())
        remaining = [scope for scope in original if scope in allowed]
        if not remaining:
            raise errors.InvalidGrantError(
                description="None of this refresh token's scopes is still allowed.", request=request
            )
        return remaining

    def _spend_refresh_token(self, request) -> None:
        """Inside the save transaction, after every check: record the exchange of a refresh token.

        The unique row makes a second exchange fail here, even a simultaneous one: on
        PostgreSQL its insert waits for the first transaction and fails once that commits;
        SQLite runs one writing transaction at a time. The row commits with the new tokens
        or not at all, so a refresh refused at any step can be retried.
        """
        # The first statement of the save transaction, with no savepoint of its own (two round
        # trips fewer): on a duplicate the whole transaction rolls back, which is what a
        # replay needs anyway.
        try:
            rows.insert(SpentRefreshToken(token_checksum=digest(request.refresh_token)))
        except IntegrityError:
            raise _Replayed from None

    def _revoke_replayed_refresh_token(self, request) -> None:
        rt = getattr(request, "refresh_token_instance", None)
        if rt is not None and rt.token_family:
            _revoke_family(rt.token_family)
        _audit(audit.Event.TOKEN_REUSE_DETECTED, request, audit.Outcome.DENIED, "refresh token replayed")

    def _lock_family(self, request) -> None:
        """Inside the rotation's transaction, before the token is spent: hold its family's row.

        A replay of an older member revokes the family under the same lock, possibly after
        this exchange validated its token; the spend (``_rotate``) then finds the token
        revoked and refuses, instead of adding a live member to a revoked family.
        """
        rt = request.refresh_token_instance
        if rt.token_family:
            _hold_family(rt.token_family)

    # --- Saving tokens ---------------------------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs):
        is_refresh = request.grant_type == "refresh_token"
        try:
            with transaction.atomic():
                if is_refresh:
                    # RFC 8707: check (and inherit) the resource before the spend, so an
                    # invalid_target leaves the token usable; _rotate does not check it again.
                    self._check_and_set_request_resource(request)
                    self._spend_refresh_token(request)
                    self._lock_family(request)
                code_replayed = request.grant_type == "authorization_code" and not self._redeem_code(request)
                if not code_replayed:
                    # DOT's save_bearer_token is only this method in a transaction of its own
                    # (a savepoint here, two round trips): this one is already open.
                    result = self._save_bearer_token(token, request, *args, **kwargs)
                    # In the same transaction: one commit for the tokens and their audit row,
                    # and no token without its row.
                    event = audit.Event.TOKEN_REFRESHED if is_refresh else audit.Event.TOKEN_ISSUED
                    _audit(event, request, reason=f"grant {request.grant_type}; scope {token.get('scope', '')}")
        except _Replayed:
            self._revoke_replayed_refresh_token(request)
            raise errors.InvalidGrantError(description="The refresh token was already used.", request=request) from None
        if code_replayed:
            # Another exchange of this code won; whatever it was issued is revoked too.
            self._revoke_replayed_code(request.code_digest, request.client, request)
            raise errors.InvalidGrantError(description="The authorization code was already used.", request=request)
        return result

    def _save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type == "refresh_token" and token.get("refresh_token"):
            return self._rotate(token, request)
        return super()._save_bearer_token(token, request, *args, **kwargs)

    def _rotate(self, token, request) -> None:
        """DOT's rotation (revoke the old pair, issue a new one) in the statements it needs,
        written directly (``core.rows``).

        DOT locked the refresh token twice, looked for an access token already issued from it
        (a grace period this project does not allow), and revoked the pair through the ORM's
        delete cascade: nine statements. Here the family is locked already (``_lock_family``)
        and the token's spend was recorded (``_spend_refresh_token``); what is left is one
        conditional UPDATE, which is also the last check that the token is still alive (a
        replay's revocation or a sign-out everywhere may have committed since validation),
        and one DELETE of the access token it had been paired with.
        """
        if "scope" not in token:
            raise errors.FatalClientError(description="Failed to renew access token: missing scope", request=request)
        # request.resource was checked and set before the spend (save_bearer_token).
        now = timezone.now()
        expires = now + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
        old = request.refresh_token_instance
        revoked = RefreshToken._meta.get_field("revoked").get_db_prep_save(now, connection)
        with connection.cursor() as cursor:
            # Spent unless something revoked it since it was read; unpaired from its access token.
            spend = rows.claim_sql(RefreshToken, "revoked", by="id", also=("access_token",))
            cursor.execute(spend, [revoked, None, old.pk])
            spent = cursor.rowcount
            if spent and old.access_token_id is not None:
                # The one row that pointed at it is the token just updated, so nothing cascades:
                # one DELETE, without the ORM collector's SELECT and per-row signal. Its cache
                # entry goes as that signal's receiver would drop it.
                token_cache.forget([old.access_token.token_checksum])
                cursor.execute(rows.delete_sql(AccessToken), [old.access_token_id])
        if not spent:
            raise errors.InvalidGrantError(description="The refresh token was already used.", request=request)
        access_token = self._create_access_token(expires, request, token, source_refresh_token=old)
        self._create_refresh_token(request, token["refresh_token"], access_token, old)
        request.refresh_token_instance = None  # spent (DOT does the same)

    # DOT links the new access token to its ID token by parsing the token it has just signed:
    # the JWT, the client's row (by audience), an RSA signature check and the ID token's row by
    # jti. The row is built in this request, so it is kept on the request and used directly;
    # likewise the new refresh token, whose family a code exchange records. At the token
    # endpoint the ID token's row is written in the tokens' transaction (DOT commits it on its
    # own, before the tokens, and leaves it behind when the exchange then fails).

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        if request.grant_type not in ID_TOKEN_GRANTS:
            id_token = super()._save_id_token(jti, request, expires, *args, **kwargs)
        else:
            id_token = IDToken(
                user=request.user,
                scope=request.scope or " ".join(request.scopes),
                expires=expires,
                jti=jti,
                application=request.client,
            )  # saved by _create_access_token, inside save_bearer_token's transaction
        request.issued_id_token = id_token
        return id_token

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        """DOT's, with the ID token this request created (``_save_id_token``), written in one
        INSERT each (``core.rows``: no signal needs a new token's save)."""
        id_token = getattr(request, "issued_id_token", None) if token.get("id_token") else None
        if id_token is not None and id_token._state.adding:
            rows.insert(id_token)
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=id_token,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),  # RFC 8707
        )
        self._set_token_value(access_token, token["access_token"])
        rows.insert(access_token)
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        """DOT's, in one INSERT. A rotation keeps the family; a code's first refresh token
        starts the family its redemption recorded (``_redeem_code``)."""
        if previous_refresh_token is not None:
            family = previous_refresh_token.token_family
        else:
            family = getattr(request, "token_family", None) or uuid.uuid4()
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            token_family=family,
            resource=getattr(request, "resource", []),  # RFC 8707
        )
        self._set_token_value(refresh_token, refresh_token_code)
        rows.insert(refresh_token)
        return refresh_token

    # --- Using tokens -------------------------------------------------------------

    def _load_access_token(self, token):
        # DOT's look-up, through the short-lived cache (oauth/token_cache.py).
        return token_cache.load(token, super()._load_access_token)

    def validate_bearer_token(self, token, scopes, request) -> bool:
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if not may_use_tokens(request.user):
            request.oauth2_error = {"error": "invalid_token", "error_description": "The access token is invalid."}
            return False
        return True

    # --- OpenID Connect -----------------------------------------------------------

    def get_additional_claims(self, request) -> dict:
        user = request.user
        return {"name": user.name, "email": user.email, "email_verified": user.email_verified}

    def finalize_id_token(self, id_token, token, token_handler, request):
        """DOT's, for the token endpoint's RS256 ID tokens: signed by ``oauth.signing`` with
        the cached key, and with no transaction around the row, which ``_save_id_token`` only
        builds (the tokens' transaction writes it)."""
        client = request.client
        if client.algorithm != client.RS256_ALGORITHM or request.grant_type not in ID_TOKEN_GRANTS:
            return super().finalize_id_token(id_token, token, token_handler, request)
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:  # DOT's workaround for oauthlib bug #746
            id_token["nonce"] = request.nonce
        signed = signing.sign_rs256(id_token)
        row = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = row  # as DOT sets them (Django REST framework reads these)
        request.id_token = row
        return signed

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        auth_time = getattr(request, "auth_time", None)
        if isinstance(auth_time, datetime):
            claims["auth_time"] = int(auth_time.astimezone(UTC).timestamp())
        amr = rfc8176_amr(getattr(request, "amr", None) or [])
        if amr:
            claims["amr"] = amr
            if "mfa" in amr:
                claims["acr"] = "mfa"
        return claims, expiration_time

    # prompt=none. oauthlib asks these twice: when the view validates the request (its
    # request carries no user then: DOT builds it from the URL and headers only) and when
    # the code is created (with the signed-in user in the credentials). Without a user the
    # answer is the view's: AuthorizeView sends login_required to an anonymous browser
    # (LoginRequiredMixin) and consent_required when the scopes are not approved; returning
    # False here instead made every prompt=none request login_required.

    def validate_silent_login(self, request) -> bool:
        user = getattr(request, "user", None)
        return user is None or bool(user.is_authenticated)

    def validate_silent_authorization(self, request) -> bool:
        user = getattr(request, "user", None)
        return user is None or consent.is_covered(user, request.client, request.scopes, request.redirect_uri)
