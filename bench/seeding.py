"""Seeding the benchmark's database with bulk inserts, in the runner's own process (Django set up).

The small size (a measured customer with 60 orders, a few others, 1,000 tokens), the growth
to the large size (everyone else's data; the customer's orders stay), the login accounts
(one per attempt, sharing one Argon2id hash) and the single-use pools of the token endpoint
(authorization codes with their PKCE challenge, refresh tokens with their families), stored
exactly as the server stores them. Each step ends with ``VACUUM ANALYZE``, as autovacuum would.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.console import Progress
from bench.options import Config

REDIRECT_URI = "http://127.0.0.1:8765/callback"
USER_SCOPES = "openid profile email orders:read orders:write"
TOKEN_SCOPE = "openid orders:read"
# Upper bounds of what one worker pair can serve per second, used only to size the pools of
# single-use items (codes, refresh tokens, login accounts) with room to spare.
TOKEN_RATE_BOUND = 400
LOGIN_RATE_BOUND = 80


def checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def bulk_insert(model, rows, total: int, label: str, batch_size: int = 2000) -> list:
    """Insert ``total`` rows from an iterable in batches, with a progress bar; returns them."""
    progress = Progress(label, total)
    created, batch = [], []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_size:
            created.extend(model.objects.bulk_create(batch))
            progress.advance(len(batch))
            batch = []
    if batch:
        created.extend(model.objects.bulk_create(batch))
        progress.advance(len(batch))
    progress.close()
    return created


@dataclass
class Data:
    """What the seeding made that the cases need."""

    customer_id: str = ""
    customer_email: str = ""
    customer_password: str = ""
    customer_order: str = ""
    other_order: str = ""
    customer_token: str = ""
    customer_personal_token: str = ""
    support_token: str = ""
    introspected_token: str = ""
    session_key: str = ""
    login_password: str = ""
    login_emails: list[str] = field(default_factory=list)
    throttled_email: str = ""
    mfa_emails: list[str] = field(default_factory=list)
    mfa_secret: str = ""
    clients: dict[str, dict] = field(default_factory=dict)
    filler_user_ids: list = field(default_factory=list)
    orders: int = 0
    tokens: int = 0
    users: int = 0


def currency_for(region: str) -> str:
    return "EUR" if region == "EU" else "USD"


def random_order(owner_id, region: str, rng: random.Random, now: dt.datetime, max_age_days: int = 365):
    from orders.models import Order

    return Order(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        owner_id=owner_id,
        region=region,
        amount=Decimal(rng.randint(100, 99_999)) / 100,
        currency=currency_for(region),
        status=rng.choice(("pending", "paid", "cancelled", "refunded")),
        created_at=now - dt.timedelta(seconds=rng.randint(0, max_age_days * 86400)),
    )


def seed_small(config: Config, data: Data, rng: random.Random) -> None:
    """The small size: a customer with a page and a bit, a few others, 1,000 tokens."""
    from django.contrib.auth.hashers import make_password
    from oauth2_provider.models import AccessToken, Application

    from accounts.models import User
    from oauth.registration import register_client
    from orders.models import Order

    now = dt.datetime.now(dt.UTC)
    unusable = make_password(None)
    data.customer_password = f"bench {secrets.token_hex(8)} customer"
    people = {
        "customer": User(
            email="bench-customer@example.com",
            name="Bench Customer",
            role="customer",
            region="EU",
            password=make_password(data.customer_password),
        ),
        "other": User(
            email="bench-other@example.com", name="Other Customer", role="customer", region="EU", password=unusable
        ),
        "support": User(
            email="bench-support@example.com", name="Bench Support", role="support", region="EU", password=unusable
        ),
        "oauth": User(
            email="bench-oauth@example.com", name="OAuth User", role="customer", region="EU", password=unusable
        ),
    }
    User.objects.bulk_create(people.values())
    data.customer_id, data.customer_email = str(people["customer"].pk), people["customer"].email
    fillers = bulk_insert(User, filler_users(0, config.small_users, unusable), config.small_users, "users (small)")
    data.filler_user_ids = [(user.pk, user.region) for user in fillers]

    specs: dict[str, dict[str, Any]] = {
        "public": dict(
            client_type="public", grant="authorization-code", redirect_uris=[REDIRECT_URI], scopes=USER_SCOPES.split()
        ),
        "confidential": dict(
            client_type="confidential",
            grant="authorization-code",
            redirect_uris=[REDIRECT_URI],
            scopes=USER_SCOPES.split(),
        ),
        "service": dict(
            client_type="confidential", grant="client-credentials", scopes=["orders:read"], role="support", region="EU"
        ),
        "resource": dict(
            client_type="confidential",
            grant="client-credentials",
            scopes=["orders:read"],
            role="support",
            region="EU",
            introspect=True,
        ),
    }
    for key, spec in specs.items():
        registered = register_client(name=f"Bench {key}", client_id=f"bench-{key}", **spec)
        data.clients[key] = {"client_id": registered.client_id, "client_secret": registered.client_secret,
                             "pk": Application.objects.get(client_id=registered.client_id).pk}

    customer_orders = [
        random_order(people["customer"].pk, "EU", rng, now, max_age_days=30) for _ in range(config.customer_orders)
    ]
    Order.objects.bulk_create(customer_orders)
    data.customer_order = str(max(customer_orders, key=lambda order: order.created_at).pk)
    other_order = random_order(people["other"].pk, "EU", rng, now)
    Order.objects.bulk_create([other_order])
    data.other_order = str(other_order.pk)
    rest = config.small_orders - config.customer_orders - 1
    bulk_insert(Order, filler_orders(data.filler_user_ids, rest, rng, now), rest, "orders (small)")

    expires = now + dt.timedelta(days=1)
    public_pk = data.clients["public"]["pk"]
    named = []
    for attribute, user, scope in (
        ("customer_token", people["customer"], TOKEN_SCOPE),
        ("support_token", people["support"], TOKEN_SCOPE),
        ("introspected_token", people["oauth"], TOKEN_SCOPE),
    ):
        raw = new_token()
        setattr(data, attribute, raw)
        named.append(AccessToken(user=user, application_id=public_pk, token="", token_checksum=checksum(raw),
                                 expires=expires, scope=scope))
    AccessToken.objects.bulk_create(named)
    from oauth.services import personal_token_create

    _token, data.customer_personal_token = personal_token_create(
        owner=people["customer"], name="bench", scopes=TOKEN_SCOPE.split(), expires_in_days=1
    )
    rest = config.small_tokens - len(named)
    bulk_insert(AccessToken, filler_tokens(data, 0, rest, public_pk, expires, rng), rest, "access tokens (small)")
    data.orders, data.tokens = config.small_orders, config.small_tokens
    data.users = User.objects.count()
    analyze()


def filler_users(start: int, count: int, password: str):
    from accounts.models import User

    for index in range(start, start + count):
        region = "EU" if index % 2 == 0 else "US"
        yield User(email=f"bench-user-{index:07d}@example.com", name=f"User {index}", role="customer", region=region,
                   password=password)


def filler_orders(owners: list, count: int, rng: random.Random, now: dt.datetime):
    for _ in range(count):
        owner_id, region = owners[rng.randrange(len(owners))]
        yield random_order(owner_id, region, rng, now)


def filler_tokens(data: Data, start: int, count: int, application_pk: int, expires: dt.datetime, rng: random.Random):
    from oauth2_provider.models import AccessToken

    for index in range(start, start + count):
        owner_id, _region = data.filler_user_ids[rng.randrange(len(data.filler_user_ids))]
        yield AccessToken(user_id=owner_id, application_id=application_pk, token="",
                          token_checksum=checksum(f"bench-filler-{data.customer_id}-{index}"),
                          expires=expires, scope=TOKEN_SCOPE)


def grow_to_large(config: Config, data: Data, rng: random.Random) -> None:
    """Grow everyone else's data to the large size; the customer's own orders stay as they are."""
    from django.contrib.auth.hashers import make_password
    from oauth2_provider.models import AccessToken

    from accounts.models import User
    from orders.models import Order

    now = dt.datetime.now(dt.UTC)
    more_users = config.large_users - config.small_users
    if more_users > 0:
        fillers = bulk_insert(
            User, filler_users(config.small_users, more_users, make_password(None)), more_users, "users (large)"
        )
        data.filler_user_ids += [(user.pk, user.region) for user in fillers]
    more_orders = config.large_orders - data.orders
    bulk_insert(Order, filler_orders(data.filler_user_ids, more_orders, rng, now), more_orders, "orders (large)", 5000)
    more_tokens = config.large_tokens - data.tokens
    expires = now + dt.timedelta(days=1)
    bulk_insert(AccessToken, filler_tokens(data, data.tokens, more_tokens, data.clients["public"]["pk"], expires, rng),
                more_tokens, "access tokens (large)", 5000)
    data.orders, data.tokens = config.large_orders, config.large_tokens
    data.users = User.objects.count()
    analyze()


def analyze() -> None:
    """What autovacuum does after a bulk load: fresh statistics, and a visibility map that lets
    a count over the region index run as an index-only scan, as it would in production."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def seed_login_accounts(config: Config, data: Data) -> None:
    """Accounts for the login cases, one per attempt (the per-account throttle stays on)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    data.login_password = f"bench {secrets.token_hex(8)} login"
    encoded = make_password(data.login_password)  # Argon2id, the configured parameters; shared by all
    count = LOGIN_RATE_BOUND * 2 * config.case_seconds + 100
    users = bulk_insert(
        User,
        (User(email=f"bench-login-{index:06d}@example.com", name=f"Login {index}", role="customer", region="EU",
              password=encoded) for index in range(count)),
        count,
        "login accounts",
    )
    data.throttled_email = users[0].email
    data.login_emails = [user.email for user in users[1:]]


def seed_second_step_accounts(data: Data, count: int) -> None:
    """Accounts with an authenticator app, one per measured sign-in (a code works once per account)."""
    from django.contrib.auth.hashers import make_password

    from accounts import factors
    from accounts.models import TotpDevice, User

    data.mfa_secret = factors.new_totp_secret()
    encoded = make_password(data.login_password)
    users = bulk_insert(
        User,
        (User(email=f"bench-mfa-{index:06d}@example.com", name=f"MFA {index}", role="customer", region="EU",
              password=encoded) for index in range(count)),
        count,
        "accounts with a second factor",
    )
    secret = factors.encrypt_secret(data.mfa_secret)
    TotpDevice.objects.bulk_create(TotpDevice(user=user, encrypted_secret=secret) for user in users)
    data.mfa_emails = [user.email for user in users]


@dataclass
class Pools:
    codes: dict[str, list[str]] = field(default_factory=dict)
    refresh: dict[str, list[str]] = field(default_factory=dict)
    verifier: str = ""


def seed_token_pools(config: Config, data: Data) -> Pools:
    """Single-use authorization codes (with PKCE) and refresh tokens, as the server would have made them."""
    from oauth2_provider.models import AccessToken, Grant, RefreshToken

    from accounts.models import User
    from oauth.models import Consent, TokenFamily, digest

    pools = Pools(verifier=secrets.token_urlsafe(48))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pools.verifier.encode()).digest()).rstrip(b"=").decode()
    user = User.objects.get(email="bench-oauth@example.com")
    now = dt.datetime.now(dt.UTC)
    count = TOKEN_RATE_BOUND * config.case_seconds + 100
    for key in ("public", "confidential"):
        application_pk = data.clients[key]["pk"]
        # The user approved these scopes when the codes were issued: a refresh carries at most that.
        Consent.objects.update_or_create(user=user, application_id=application_pk, defaults={"scopes": TOKEN_SCOPE})
        codes = [secrets.token_urlsafe(24) for _ in range(count)]
        bulk_insert(
            Grant,
            (
                Grant(
                    user=user,
                    code=code,
                    application_id=application_pk,
                    expires=now + dt.timedelta(hours=2),
                    redirect_uri=REDIRECT_URI,
                    scope=TOKEN_SCOPE,
                    code_challenge=challenge,
                    code_challenge_method="S256",
                    nonce="",
                    claims="{}",
                )
                for code in codes
            ),
            count,
            f"codes ({key})",
        )
        bulk_insert(TokenFamily, (TokenFamily(application_id=application_pk, user=user, code_digest=digest(code),
                                              auth_time=now) for code in codes), count, f"code families ({key})")
        pools.codes[key] = codes

        refresh = [new_token() for _ in range(count)]
        families = [uuid.uuid4() for _ in range(count)]
        access = bulk_insert(AccessToken, (AccessToken(user=user, application_id=application_pk, token="",
                                                       token_checksum=checksum(new_token()),
                                                       expires=now + dt.timedelta(minutes=10), scope=TOKEN_SCOPE)
                                           for _ in range(count)), count, f"access tokens ({key})")
        bulk_insert(
            RefreshToken,
            (
                RefreshToken(
                    user=user,
                    application_id=application_pk,
                    token="",
                    token_checksum=checksum(raw),
                    access_token=token,
                    token_family=family,
                )
                for raw, token, family in zip(refresh, access, families, strict=False)
            ),
            count,
            f"refresh tokens ({key})",
        )
        bulk_insert(TokenFamily, (TokenFamily(application_id=application_pk, user=user, code_digest=digest(new_token()),
                                              family=family, auth_time=now, started_at=now, redeemed_at=now)
                                  for family in families), count, f"refresh families ({key})")
        pools.refresh[key] = refresh
    analyze()
    return pools

