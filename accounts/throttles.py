"""Brute-force throttles: django-ratelimit's fixed windows, counted in one cache round trip.

Every attempt is counted before any password is hashed, atomically, so concurrent guesses
cannot slip past the limit.

Sign-in is limited twice: per client IP (an IPv6 client by its /64, see accounts/net.py),
and per account (the submitted email). The per-account limit would let an attacker lock the
owner out, so a browser that has signed in to the account before carries a signed
*known-device* cookie, and its attempts count in a bucket of their own (account + device):
the owner's own browser keeps working while the attacker's guesses fill the shared bucket.

The buckets are django-ratelimit's: its cache keys (``_make_cache_key``), its windows
(``_get_window``: fixed, staggered per key), its expiry (the period plus
``EXPIRATION_FUDGE``) and its settings (``RATELIMIT_ENABLE``, ``RATELIMIT_USE_CACHE``,
``RATELIMIT_FAIL_OPEN``). Only the counting differs: ``get_usage`` costs two round trips
per bucket (``add``, then ``incr``), so a sign-in paid four. On Redis (django-redis) every
bucket of an attempt is counted by one Lua script, ``INCR`` and, for a new key, ``EXPIRE``:
one round trip, atomic for all buckets together. Any other cache (the in-process one of the
embedded profile) counts each bucket as django-ratelimit does, ``add`` then ``incr``. A
cache that cannot be reached raises (the request is answered 503): no attempt is ever let
through uncounted.

The same script can also read cache entries the request will need next (:func:`count_and_read`:
the token endpoint reads its client's entry, see ``oauth.token_cache.client_read_ahead``), so
they cost no round trip of their own. The counts come first in the script: a read can never
stop an attempt from being counted. On any other cache nothing is read ahead (an in-process
read costs no round trip); the reader reads as before.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
from redis.commands.core import Script

from accounts.net import client_ip_key

KNOWN_DEVICE_SALT = "accounts.known-device"
KNOWN_DEVICE_ACCOUNTS = 5


# KEYS: the buckets' cache keys, then the keys to read; ARGV: the buckets' lifetimes in seconds.
# Returns each bucket's new count, then each read key's value (nil where there is none).
COUNT_SCRIPT = b"""
local replies = {}
for i, key in ipairs(KEYS) do
  if i <= #ARGV then
    local count = redis.call('INCR', key)
    if count == 1 then
      redis.call('EXPIRE', key, ARGV[i])
    end
    replies[i] = count
  else
    replies[i] = redis.call('GET', key)
  end
end
return replies
"""
# Its SHA-1 is computed once; the first call on a server loads it (EVALSHA, then EVAL once).
_count_script = Script(None, COUNT_SCRIPT)  # type: ignore[arg-type]  # called with a client each time


@dataclass(frozen=True)
class Bucket:
    """One counter of one fixed window: django-ratelimit's key and window for (group, key, rate)."""

    group: str
    key: str  # what is counted: an address, an email...
    limit: int
    period: int
    window: int  # when the window ends (epoch seconds)
    cache_key: str

    @classmethod
    def of(cls, group: str, key: str, rate: str) -> Bucket:
        limit, period = _split_rate(rate)
        window = _get_window(key, period)
        return cls(group, key, limit, period, window, _make_cache_key(group, window, rate, key, ALL))


@dataclass(frozen=True)
class Count:
    """A bucket after counting one attempt."""

    bucket: Bucket
    count: int  # attempts in this window, this one included; 0 if the cache could not count

    @property
    def is_over(self) -> bool:
        return self.count == 0 or self.count > self.bucket.limit

    @property
    def refused(self) -> int:
        """How many attempts this bucket has refused in this window, this one included."""
        return max(0, self.count - self.bucket.limit)

    @property
    def wait(self) -> int:
        if self.count == 0:
            return 1  # django-ratelimit's answer when the cache could not count (time_left -1)
        return max(1, self.bucket.window - int(time.time()))


def count(*checks: tuple[str, str, str]) -> list[Count]:
    """Count one attempt in every (group, key, rate) bucket; [] when throttling is disabled."""
    return count_and_read(checks)[0]


def count_and_read(
    checks: Sequence[tuple[str, str, str]], cache_keys: Sequence[str] = ()
) -> tuple[list[Count], dict[str, Any]]:
    """:func:`count`, and on Redis the values of ``cache_keys`` (in :func:`cache_alias`) in the same round trip.

    The values come as ``cache.get`` gives them (None where there is none), keyed by cache key.
    A key not in the answer was not read ahead (any other cache, or throttling disabled): its
    reader reads it itself.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return [], {}
    buckets = [Bucket.of(group, key, rate) for group, key, rate in checks]
    cache = caches[cache_alias()]
    client = getattr(cache, "client", None)
    read: dict[str, Any] = {}
    if hasattr(client, "get_client") and hasattr(client, "make_key"):  # django-redis
        counts, read = _count_on_redis(client, buckets, cache_keys)
    else:
        counts = [_count_in_cache(cache, bucket) for bucket in buckets]
    return [Count(bucket, value) for bucket, value in zip(buckets, counts, strict=True)], read


def cache_alias() -> str:
    """The cache the throttles count in (django-ratelimit's ``RATELIMIT_USE_CACHE``)."""
    return getattr(settings, "RATELIMIT_USE_CACHE", "default")


def _count_on_redis(client, buckets: list[Bucket], cache_keys: Sequence[str]) -> tuple[list[int], dict[str, Any]]:
    redis = client.get_client(write=True)
    keys = [client.make_key(key) for key in [*(bucket.cache_key for bucket in buckets), *cache_keys]]
    lifetimes = [bucket.period + EXPIRATION_FUDGE for bucket in buckets]
    replies = _count_script(keys=keys, args=lifetimes, client=redis)
    counts, values = replies[: len(buckets)], replies[len(buckets) :]
    read = {key: None if value is None else client.decode(value) for key, value in zip(cache_keys, values, strict=True)}
    return [int(value) for value in counts], read


def _count_in_cache(cache, bucket: Bucket) -> int:
    """django-ratelimit's own counting (``get_usage``): add the key, or increment it."""
    if cache.add(bucket.cache_key, 1, bucket.period + EXPIRATION_FUDGE):
        return 1
    try:
        value = cache.incr(bucket.cache_key)
    except ValueError:  # gone between add and incr: django-ratelimit counts it as a failure
        value = None
    if value is None or value is False:
        return 0
    return int(value)


def wait_of(counts: list[Count]) -> int | None:
    """Seconds until every bucket that refused this attempt reopens; None if none refused it.

    A bucket the cache could not count refuses (django-ratelimit's ``should_limit``), unless
    ``RATELIMIT_FAIL_OPEN`` says otherwise.
    """
    fail_open = getattr(settings, "RATELIMIT_FAIL_OPEN", False)
    waits = [c.wait for c in counts if c.is_over and not (c.count == 0 and fail_open)]
    return max(waits) if waits else None


def hit(request: HttpRequest, *, group: str, key: str, rate: str) -> int | None:
    """Count one attempt; return seconds until the window reopens when over the limit."""
    return wait_of(count((group, key, rate)))


def hit_all(request: HttpRequest, *checks: tuple[str, str, str]) -> int | None:
    """Count the attempt in every (group, key, rate) bucket at once; the longest wait wins."""
    return wait_of(count(*checks))


def wait_text(seconds: int) -> str:
    """A throttle's wait as the pages say it: "45 s", "4 min", "4 min 10 s"."""
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


LOGIN_IP = "login:ip"
LOGIN_ACCOUNT = "login:account"


def _ip_bucket(request: HttpRequest) -> tuple[str, str, str]:
    return (LOGIN_IP, client_ip_key(request), settings.LOGIN_RATE_PER_IP)


def _account_bucket(request: HttpRequest, email: str) -> tuple[str, str, str]:
    device = known_device(request, email)
    account_key = f"{email}|device:{device}" if device else email
    return (LOGIN_ACCOUNT, account_key, settings.LOGIN_RATE_PER_ACCOUNT)


def login_attempt(request: HttpRequest, email: str) -> list[Count]:
    """Count a sign-in attempt per IP and per account (:func:`wait_of` says if it is refused)."""
    return count(_ip_bucket(request), _account_bucket(request, email))


def login_ip_attempt(request: HttpRequest) -> list[Count]:
    """The per-IP half of :func:`login_attempt`, for a passkey sign-in before its account is known."""
    return count(_ip_bucket(request))


def login_account_attempt(request: HttpRequest, email: str) -> list[Count]:
    """The per-account half of :func:`login_attempt`, once a passkey names its account."""
    return count(_account_bucket(request, email))


def _account_digest(email: str) -> str:
    return hashlib.sha256(f"known-device:{email}".encode()).hexdigest()[:16]


def _read_device_cookie(request: HttpRequest) -> dict:
    raw = request.COOKIES.get(settings.KNOWN_DEVICE_COOKIE_NAME)
    if not raw:
        return {}
    try:
        value = signing.loads(raw, salt=KNOWN_DEVICE_SALT, max_age=settings.KNOWN_DEVICE_MAX_AGE)
    except signing.BadSignature:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("accounts"), list):
        return {}
    return value


def known_device(request: HttpRequest, email: str) -> str | None:
    """The device id if this browser has signed in to this account before."""
    value = _read_device_cookie(request)
    if _account_digest(email) in value.get("accounts", []):
        return str(value.get("device", ""))[:32] or None
    return None


def remember_device(request: HttpRequest, response: HttpResponse, email: str) -> None:
    """After a successful sign-in, mark this browser as known for the account."""
    value = _read_device_cookie(request)
    device = str(value.get("device") or secrets.token_urlsafe(16))[:32]
    accounts = [digest for digest in value.get("accounts", []) if digest != _account_digest(email)]
    accounts = [_account_digest(email), *accounts][:KNOWN_DEVICE_ACCOUNTS]
    response.set_cookie(
        settings.KNOWN_DEVICE_COOKIE_NAME,
        signing.dumps({"device": device, "accounts": accounts}, salt=KNOWN_DEVICE_SALT),
        max_age=settings.KNOWN_DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
