"""How many round trips to Redis each token-endpoint request makes: a regression fails here.

The companion of ``test_token_endpoint_statements.py`` (SQL statements), for the production
profile's cache: django-redis on the real Redis (``REDIS_URL``), under a key prefix of this
module's own, whichever profile runs (``services``: ``make test-services``). Counted in the
steady state (the client's entry cached, the throttles' script loaded), with the callbacks of the
commit run, as in production (the old access token's second tombstone is sent after the commit).
Each round trip costs redis-py and django-redis more CPU than Redis spends on the command.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from oauth import token_cache
from tests.oauth.test_token_endpoint_statements import basic, settle
from tests.support.oauth import TOKEN_PATH, authorize_on, code_from, exchange_code, form_post, tokens_for
from tests.support.round_trips import RoundTrips, own_redis_cache

pytestmark = [pytest.mark.django_db, pytest.mark.services]

# Before: refresh 5, code exchange 3, client credentials 3; the client's entry had a round trip
# of its own, now it is read in the per-IP count's (-1 each).
#
# The per-IP count, with the named client's entry read ahead (one script); the per-client count,
# once the client has authenticated; the old access token's tombstone, in the save transaction
# and again after its commit (two moments, so two round trips: see oauth.token_cache).
REFRESH = 4
CODE_EXCHANGE = 2  # the per-IP count with the client's entry; the per-client count
CLIENT_CREDENTIALS = 2  # the same


@pytest.fixture
def redis_cache():
    with own_redis_cache("token-endpoint-round-trips"):
        yield


def counted(send, django_capture_on_commit_callbacks):
    with RoundTrips() as trips, django_capture_on_commit_callbacks(execute=True):
        response = send()
    return response, trips.sent


def refresh_request(client_id: str, refresh_token: str):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return form_post(Client(), TOKEN_PATH, data)


def test_a_refresh_makes_its_pinned_round_trips(
    redis_cache, browser, public_client, django_capture_on_commit_callbacks
):
    settle(public_client)
    tokens, _request = tokens_for(browser, public_client.client_id)
    warm = refresh_request(public_client.client_id, tokens["refresh_token"])
    assert warm.status_code == 200, warm.content
    assert isinstance(cache.get(token_cache.client_key(public_client.client_id)), dict)

    send = lambda: refresh_request(public_client.client_id, warm.json()["refresh_token"])  # noqa: E731
    response, sent = counted(send, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    assert sent == REFRESH
    old_access_token = token_cache.key(token_cache.checksum(warm.json()["access_token"]))
    assert cache.get(old_access_token) == token_cache.TOMBSTONE


def test_a_code_exchange_makes_its_pinned_round_trips(
    redis_cache, browser, public_client, django_capture_on_commit_callbacks
):
    settle(public_client)
    tokens_for(browser, public_client.client_id)
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)

    send = lambda: exchange_code(Client(), public_client.client_id, code, request)  # noqa: E731
    response, sent = counted(send, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    assert sent == CODE_EXCHANGE


def test_client_credentials_make_their_pinned_round_trips(
    redis_cache, service_client, django_capture_on_commit_callbacks
):
    settle(service_client)
    send = lambda: form_post(  # noqa: E731
        Client(), TOKEN_PATH, {"grant_type": "client_credentials", "scope": "orders:read"}, **basic(service_client)
    )
    assert send().status_code == 200

    response, sent = counted(send, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    assert sent == CLIENT_CREDENTIALS
