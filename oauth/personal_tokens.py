"""Personal access tokens: the secret, its keyed hash, and authenticating a request with one.

A token is ``pat_<key_id>_<secret>``: ``pat_`` so secret scanners recognise a leaked one,
a 12-hex-digit key id that finds its row through a unique index, and 256 random bits from
the operating system's CSPRNG (``secrets.token_urlsafe(32)``). The database keeps the key
id and an HMAC-SHA256 of the whole token under a server-side key (``PAT_HASH_KEY``, or a key
derived from ``SECRET_KEY`` for this purpose alone), never the token: a dump of the table
does not let anyone use or check a token. A slow password hash would buy nothing for 256
random bits and cost every request ~30 ms; an HMAC costs microseconds. The request's
token is compared with ``hmac.compare_digest``.

Authentication is the bearer class's (``oauth.authentication``): the token gives its owner's
current permissions narrowed by its scopes, exactly as an OAuth access token does. Rows are
cached like access tokens (``oauth.token_cache``). ``last_used_at`` is written at most once
a minute per token, and a token's first use from an address is audited once.

Costs: per request one cache read (the row), one cache ``add`` (the once-a-minute stamp);
the database only on a cache miss, and once a minute per token and address for the stamp.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts import audit
from accounts.net import client_ip
from core.unavailable import is_service_outage
from oauth import token_cache
from oauth.models import PersonalToken
from permissions.scopes import catalogue

KEY_LABEL = b"oauth-personal-access-token"
TOKEN_PATTERN = re.compile(r"pat_(?P<key_id>[0-9a-f]{12})_[A-Za-z0-9_-]{43,128}")
STAMP_INTERVAL = timedelta(seconds=60)
STAMP_KEY_PREFIX = "oauth:personal-token-used:"
MAX_ALLOWED_NETWORKS = 20
MAX_SEEN_ADDRESSES = 50


# --- The secret -------------------------------------------------------------------------------


def generate() -> tuple[str, str]:
    """A new (key id, token). The token is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PersonalToken.PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def _keys() -> list[bytes]:
    """The HMAC keys: the configured one, or one derived per secret key (rotation keeps tokens)."""
    if settings.PAT_HASH_KEY:
        return [settings.PAT_HASH_KEY.encode()]
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest() for secret in secret_keys]


def keyed_hash(token: str, key: bytes | None = None) -> str:
    return hmac.new(key if key is not None else _keys()[0], token.encode(), hashlib.sha256).hexdigest()


def matches(token: str, stored_hash: str) -> bool:
    """Does ``token`` hash to ``stored_hash`` under any current key? In constant time."""
    return any(hmac.compare_digest(keyed_hash(token, key), stored_hash) for key in _keys())


def key_id_of(token: str) -> str | None:
    found = TOKEN_PATTERN.fullmatch(token)
    return found["key_id"] if found else None


def looks_like_personal_token(token: str) -> bool:
    return token.startswith(PersonalToken.PREFIX)


# --- What a person may ask for -------------------------------------------------------------------


def clean_scopes(scopes: list[str]) -> list[str]:
    """Known scopes, each once, in the catalogue's order; at least one."""
    known = list(catalogue())
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        raise ValidationError(f"Unknown scope: {', '.join(unknown)}.")
    if not scopes:
        raise ValidationError("Choose at least one scope.")
    return [name for name in known if name in scopes]


def clean_networks(values: list[str]) -> list[str]:
    """CIDR networks (IPv4 or IPv6; a bare address is its /32 or /128), normalised, each once."""
    if len(values) > MAX_ALLOWED_NETWORKS:
        raise ValidationError(f"At most {MAX_ALLOWED_NETWORKS} networks.")
    networks: list[str] = []
    for value in values:
        try:
            network = str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValidationError(f"Not an IP address or CIDR network: {value!r}.") from None
        if network not in networks:
            networks.append(network)
    return networks


def is_allowed_from(allowed: list[str], address: str) -> bool:
    """May a token restricted to ``allowed`` (empty: anywhere) be used from ``address``?"""
    if not allowed:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(network) for network in allowed)


# --- Authentication ------------------------------------------------------------------------------


def _from_database(key_id: str) -> PersonalToken | None:
    return PersonalToken.objects.select_related("owner").filter(key_id=key_id).first()


def authenticate(request: HttpRequest, token: str) -> PersonalToken | None:
    """The usable personal token that ``token`` is, for this request; otherwise None.

    None for a malformed, unknown, revoked or expired token, an inactive or deleted owner,
    or a client address outside the token's networks. The caller answers 401.
    """
    key_id = key_id_of(token)
    if key_id is None:
        return None
    personal_token = token_cache.load_personal_token(key_id, _from_database)
    if personal_token is None or not matches(token, personal_token.secret_hash):
        return None
    if personal_token.revoked_at is not None or personal_token.expires_at <= timezone.now():
        return None
    owner = personal_token.owner
    if not owner.is_active or owner.is_deleted:
        return None
    address = client_ip(request)
    if not is_allowed_from(personal_token.allowed_ips, address):
        return None
    note_use(personal_token, address, request)
    return personal_token


def note_use(personal_token: PersonalToken, address: str, request: HttpRequest) -> None:
    """Stamp ``last_used_at`` (at most once a minute) and audit a first use from an address."""
    try:
        is_first_this_minute = cache.add(f"{STAMP_KEY_PREFIX}{personal_token.pk}:{address}", 1, timeout=60)
    except Exception as exc:
        if not is_service_outage(exc):
            raise
        is_first_this_minute = True  # the database's condition below still allows one write a minute
    if not is_first_this_minute:
        return
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - STAMP_INTERVAL)
    PersonalToken.objects.filter(stale, pk=personal_token.pk).update(last_used_at=now)
    if address not in personal_token.seen_ips:
        _note_address(personal_token, address, request)


def _note_address(personal_token: PersonalToken, address: str, request: HttpRequest) -> None:
    with transaction.atomic():
        seen = PersonalToken.objects.select_for_update().filter(pk=personal_token.pk).values_list("seen_ips", flat=True)
        seen_ips = seen.first()
        if seen_ips is None or address in seen_ips:
            return
        PersonalToken.objects.filter(pk=personal_token.pk).update(seen_ips=[*seen_ips, address][-MAX_SEEN_ADDRESSES:])
        audit.record(
            audit.Event.TOKEN_NEW_ADDRESS,
            request=request,
            actor=personal_token.owner,
            target=personal_token.prefix,
            reason="personal access token used from a new address",
        )
