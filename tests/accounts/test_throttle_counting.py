"""How the throttles count: django-ratelimit's keys and windows, every bucket of an attempt at once.

The tests without a marker run on the profile's own cache (the in-process one under
``make test``, Redis under ``make test-services``). The ``services`` tests always count on a
real Redis (``REDIS_URL``, default 127.0.0.1:6379), under a key prefix of their own: one
round trip per attempt, the expiry, and the limit under a race of many threads.
"""

from __future__ import annotations

import secrets
import socket
import threading
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.cache import cache, caches as django_caches
from django.db import connection
from django.test import RequestFactory, override_settings
from django_ratelimit.core import EXPIRATION_FUDGE, get_usage

from accounts import login as login_flow, throttles
from accounts.models import AuditEvent
from core.unavailable import is_service_outage
from tests.support.round_trips import RoundTrips, own_redis_cache

RATE = "3/m"


def _usage(group: str, key: str, rate: str = RATE, increment: bool = True) -> dict:
    request = RequestFactory().post("/")
    usage = get_usage(request, group=group, key=lambda _g, _r: key, rate=rate, increment=increment)
    assert usage is not None
    return usage


def _key() -> str:
    return f"someone-{secrets.token_hex(4)}@example.com"


# --- The profile's cache --------------------------------------------------------------------


def test_attempts_land_in_django_ratelimits_own_counter():
    key = _key()
    _usage("login:account", key)
    _usage("login:account", key)

    [counted] = throttles.count(("login:account", key, RATE))

    assert counted.count == 3
    # And django-ratelimit reads what this module counted.
    assert _usage("login:account", key, increment=False)["count"] == 3


def test_every_bucket_of_an_attempt_counts_and_the_longest_wait_wins():
    ip, account = f"198.51.100.7-{secrets.token_hex(4)}", _key()  # keys of its own: the cache outlives a test
    checks = (("login:ip", ip, "2/m"), ("login:account", account, "1/h"))
    attempts = [throttles.count(*checks) for _ in range(3)]
    waits = [throttles.wait_of(counts) for counts in attempts]

    assert waits[0] is None
    # The second attempt is over the account's 1/h only: its wait is that bucket's (within the hour).
    ip_count, account_count = attempts[1]
    assert not ip_count.is_over and account_count.is_over
    assert waits[1] == account_count.wait and 0 < waits[1] <= 3600
    # The third is over both: the longer wait wins (whichever window ends later).
    assert all(counted.is_over for counted in attempts[2])
    assert waits[2] == max(counted.wait for counted in attempts[2])
    assert _usage("login:ip", ip, "2/m", increment=False)["count"] == 3
    assert _usage("login:account", account, "1/h", increment=False)["count"] == 3


def test_the_limit_is_reached_on_the_attempt_after_the_rate():
    key = _key()
    waits = [throttles.hit(None, group="register:ip", key=key, rate=RATE) for _ in range(5)]  # type: ignore[arg-type]
    assert [wait is None for wait in waits] == [True, True, True, False, False]


def test_a_new_window_starts_a_new_count():
    key = _key()
    for _ in range(4):
        throttles.count(("login:account", key, RATE))
    [before] = throttles.count(("login:account", key, RATE))
    # One period later the key's window has ended; the next attempt counts in a new bucket.
    later = before.bucket.window + 1
    with mock.patch("django_ratelimit.core.time", SimpleNamespace(time=lambda: later)):  # its clock
        [after] = throttles.count(("login:account", key, RATE))

    assert before.count == 5 and before.refused == 2
    assert after.count == 1 and not after.is_over
    assert after.bucket.cache_key != before.bucket.cache_key


def test_disabled_throttles_count_nothing(settings):
    settings.RATELIMIT_ENABLE = False
    assert throttles.count(("login:ip", "198.51.100.8", "1/m")) == []
    assert throttles.hit(None, group="login:ip", key="198.51.100.8", rate="1/m") is None  # type: ignore[arg-type]


def test_an_unreachable_redis_refuses_to_count():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=down), pytest.raises(Exception) as raised:
        throttles.count(("login:ip", "198.51.100.9", RATE), ("login:account", _key(), RATE))
    # An outage (503 with Retry-After), never an attempt let through uncounted.
    assert is_service_outage(raised.value)


@pytest.fixture
def in_process_cache():
    """The default cache is the in-process one (the embedded profile's), whichever profile runs."""
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle-test"}}
    with override_settings(CACHES=caches):
        in_process = django_caches["default"]  # the instance itself: a patch of it is undone on it
        yield in_process
        in_process.clear()


def _incr_returns_none(*args, **kwargs):
    return None


def _incr_finds_the_key_gone(*args, **kwargs):
    raise ValueError("Key 'gone' not found")  # LocMemCache's incr on a key expired since the add


@pytest.mark.parametrize("incr", [_incr_returns_none, _incr_finds_the_key_gone], ids=["none", "key-gone"])
def test_an_attempt_the_in_process_cache_could_not_count_is_refused(in_process_cache, monkeypatch, incr):
    key = _key()
    assert throttles.hit(None, group="login:account", key=key, rate=RATE) is None  # type: ignore[arg-type]  # the bucket exists
    monkeypatch.setattr(in_process_cache, "incr", incr)

    [counted] = throttles.count(("login:account", key, RATE))
    wait = throttles.hit(None, group="login:account", key=key, rate=RATE)  # type: ignore[arg-type]

    assert counted.count == 0 and counted.is_over  # the second attempt of 3/m, yet refused: fail closed
    assert wait == 1


def test_an_uncounted_attempt_passes_only_when_ratelimit_fail_open_says_so(in_process_cache, monkeypatch, settings):
    key = _key()
    throttles.count(("login:account", key, RATE))
    monkeypatch.setattr(in_process_cache, "incr", _incr_returns_none)
    settings.RATELIMIT_FAIL_OPEN = True

    assert throttles.hit(None, group="login:account", key=key, rate=RATE) is None  # type: ignore[arg-type]


def test_on_the_in_process_cache_nothing_is_read_ahead_and_the_attempt_counts(in_process_cache):
    key = _key()
    in_process_cache.set("entry", {"kept": True})

    counts, read = throttles.count_and_read([("login:account", key, RATE)], ["entry"])

    assert [c.count for c in counts] == [1]
    assert read == {}  # an in-process read costs no round trip: the reader reads it itself


# --- A real Redis -----------------------------------------------------------------------------


@pytest.fixture
def redis_cache():
    """The default cache is django-redis on the real Redis, under a prefix of this test's own."""
    with own_redis_cache("throttle-test"):
        yield cache


@pytest.mark.services
def test_on_redis_an_attempt_counts_both_buckets_in_one_round_trip(redis_cache):
    throttles.count(("login:ip", "198.51.100.10", RATE))  # the script is loaded once per server
    ip, account = "198.51.100.11", _key()
    rounds = []
    for _ in range(5):
        with RoundTrips() as trips:
            counts = throttles.count(("login:ip", ip, "10/m"), ("login:account", account, RATE))
        rounds.append(trips.sent)

    assert rounds == [1, 1, 1, 1, 1]
    assert [c.count for c in counts] == [5, 5]
    assert [c.is_over for c in counts] == [False, True]
    # django-ratelimit reads the same counters (its add and incr: two round trips per bucket).
    with RoundTrips() as trips:
        assert _usage("login:account", account, increment=False)["count"] == 5
    assert trips.sent >= 1


@pytest.mark.services
def test_on_redis_a_bucket_expires_one_period_and_the_fudge_after_its_first_attempt(redis_cache):
    key = _key()
    [first] = throttles.count(("login:account", key, "5/5m"))
    redis_key = redis_cache.client.make_key(first.bucket.cache_key)
    client = redis_cache.client.get_client(write=True)
    assert client.ttl(redis_key) == 300 + EXPIRATION_FUDGE
    client.expire(redis_key, 100)  # later attempts do not extend the window
    throttles.count(("login:account", key, "5/5m"))
    assert 0 < client.ttl(redis_key) <= 100
    assert int(client.get(redis_key)) == 2


@pytest.mark.services
def test_on_redis_many_threads_at_once_get_exactly_the_limit(redis_cache):
    ip, account, limit, threads = "198.51.100.12", _key(), 5, 40
    start = threading.Barrier(threads)
    waits: list[int | None] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        wait = throttles.wait_of(throttles.count(("login:ip", ip, "1000/m"), ("login:account", account, f"{limit}/h")))
        with lock:
            waits.append(wait)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sum(wait is None for wait in waits) == limit
    assert _usage("login:account", account, f"{limit}/h", increment=False)["count"] == threads
    assert _usage("login:ip", ip, "1000/m", increment=False)["count"] == threads


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # plain flush: duplicate content types later
def test_on_redis_refusals_racing_each_other_fold_into_one_row_with_their_exact_count(redis_cache, settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "5/h"
    settings.LOGIN_RATE_PER_IP = "1000/m"
    email, threads = _key(), 30
    start = threading.Barrier(threads)
    waits: list[int | None] = []
    lock = threading.Lock()

    def attempt() -> None:
        request = RequestFactory().post("/api/auth/login/", REMOTE_ADDR="198.51.100.13")
        start.wait()
        try:
            wait = login_flow.throttle(request, email)
        finally:
            connection.close()
        with lock:
            waits.append(wait)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sum(wait is not None for wait in waits) == threads - 5
    [row] = AuditEvent.objects.filter(event="login_throttled")
    assert (row.count, row.target) == (threads - 5, f"email:{email}")


@pytest.mark.services
def test_on_redis_entries_are_read_in_the_round_trip_that_counts(redis_cache):
    throttles.count(("login:ip", "198.51.100.14", RATE))  # the script is loaded once per server
    redis_cache.set("entry", {"kept": True}, timeout=60)
    redis_cache.set("number", 7, timeout=60)  # django-redis stores an int unpickled
    ip = "198.51.100.15"
    throttles.count(("login:ip", ip, RATE))

    with RoundTrips() as trips:
        counts, read = throttles.count_and_read([("login:ip", ip, RATE)], ["entry", "absent", "number"])

    assert trips.sent == 1
    assert [c.count for c in counts] == [2]
    assert read == {"entry": {"kept": True}, "absent": None, "number": 7}  # what cache.get gives
    assert _usage("login:ip", ip, increment=False)["count"] == 2


@pytest.mark.services
def test_on_redis_nothing_is_read_ahead_when_throttling_is_disabled(redis_cache, settings):
    settings.RATELIMIT_ENABLE = False
    redis_cache.set("entry", {"kept": True}, timeout=60)
    assert throttles.count_and_read([("login:ip", "198.51.100.16", RATE)], ["entry"]) == ([], {})
