"""The client cache (``oauth.token_cache``, "OAuth clients"): one look-up of a client per TTL, never staler.

Token, revocation and introspection requests read their client (and its policy) from the
shared cache. These tests pin what that must not change, on LocMem here and on Redis under
the services profile (the same file with ``REDIS_URL`` set):

- a second request does not read the client's row; the entry holds the stored (hashed)
  secret, never the secret itself, and a client whose secret is stored unhashed is not kept;
- a new secret, a deleted client (with a policy or without one), a changed client id, a
  narrowed policy, a policy removed and introspection taken away all take effect on the very
  next request;
- an entry lives ``TTL`` seconds at most;
- a request that read the row before a change cannot store it afterwards;
- with the cache unreachable a request reads the database; an unknown client is never kept;
- an entry read ahead (the token endpoint reads it in the round trip of its per-IP count) is
  used as a cache read would be, once, by the look-up of its own client in that request.
"""

from __future__ import annotations

import base64
import pickle
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_application_model

from oauth import token_cache
from oauth.models import ClientPolicy
from oauth.validators import load_client_row
from tests.support.oauth import INTROSPECT_PATH, TOKEN_PATH, form_post, mint_token

Application = get_application_model()
APPLICATION_TABLE = Application._meta.db_table

pytestmark = pytest.mark.django_db


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def settle(registered) -> None:
    """Registering writes the client's policy, which tombstones its entry for TTL seconds."""
    cache.delete(token_cache.client_key(registered.client_id))


def token_request(client_id: str, secret: str, scope: str = "orders:read"):
    return form_post(Client(), TOKEN_PATH, {"grant_type": "client_credentials", "scope": scope},
                     **basic(client_id, secret))


def counting_client_reads(send):
    with CaptureQueriesContext(connection) as captured:
        response = send()
    reads = [q["sql"] for q in captured.captured_queries if f'FROM "{APPLICATION_TABLE}"' in q["sql"]]
    return response, reads


def entry(client_id: str):
    return cache.get(token_cache.client_key(client_id))


def seconds_left(client_id: str) -> float:
    """How long the client's entry has left to live, on django-redis or LocMemCache (inf: forever)."""
    if hasattr(cache, "ttl"):  # django-redis: None for a key that never expires
        left = cache.ttl(token_cache.client_key(client_id))
    else:  # LocMemCache: None for a key that never expires
        expires = cache._expire_info[cache.make_and_validate_key(token_cache.client_key(client_id))]
        left = None if expires is None else expires - time.time()
    return float("inf") if left is None else left


@pytest.fixture
def service(service_client):
    settle(service_client)
    response = token_request(service_client.client_id, service_client.client_secret)
    assert response.status_code == 200, response.content
    assert isinstance(entry(service_client.client_id), dict), "the first request did not cache the client"
    return service_client


# --- Used, and holding no secret ---------------------------------------------------------------


def test_a_second_token_request_does_not_read_the_clients_row(service):
    response, reads = counting_client_reads(lambda: token_request(service.client_id, service.client_secret))
    assert response.status_code == 200, response.content
    assert reads == []


def test_the_entry_holds_the_stored_hash_and_the_policy_but_never_the_secret(service):
    kept = entry(service.client_id)
    stored = Application.objects.get(client_id=service.client_id).client_secret
    assert kept["application"]["client_secret"] == stored != service.client_secret
    assert service.client_secret.encode() not in pickle.dumps(kept)
    assert kept["policy"]["role"] == "support" and kept["policy"]["scopes"] == "orders:read"


def test_a_wrong_secret_is_refused_from_the_cached_row(service):
    assert token_request(service.client_id, "not-the-secret").status_code == 401


def test_a_client_whose_secret_is_stored_unhashed_is_never_cached(service):
    plain = "a plain secret of sixty characters or so, never to be cached!"
    application = Application.objects.get(client_id=service.client_id)
    application.hash_client_secret = False
    application.client_secret = plain
    application.save()
    cache.delete(token_cache.client_key(service.client_id))  # past the tombstone

    assert token_request(service.client_id, plain).status_code == 200
    assert entry(service.client_id) is None


def test_an_unknown_client_is_not_cached():
    assert token_request("nobody", "secret").status_code == 401
    assert entry("nobody") is None


# --- Every change is seen by the very next request ----------------------------------------------


def test_a_new_secret_refuses_the_old_one_at_once(service):
    new_secret = "a brand new secret that is long enough to be a real client secret"
    application = Application.objects.get(client_id=service.client_id)
    application.client_secret = new_secret  # hashed when saved
    application.save()

    assert entry(service.client_id) == token_cache.TOMBSTONE
    assert token_request(service.client_id, service.client_secret).status_code == 401
    assert token_request(service.client_id, new_secret).status_code == 200


def test_a_deleted_client_is_refused_at_once(service):
    assert token_request(service.client_id, service.client_secret).status_code == 200  # the client is cached
    Application.objects.get(client_id=service.client_id).delete()

    assert entry(service.client_id) == token_cache.TOMBSTONE
    assert token_request(service.client_id, service.client_secret).status_code == 401


def test_a_deleted_client_without_a_policy_is_refused_at_once():
    """Only the client's own post_delete removes this entry: there is no policy whose cascade would."""
    secret = "the secret of a client created without a policy, long enough to be real"
    application = Application.objects.create(
        name="No policy",
        client_id="test-no-policy",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,  # hashed when saved
        hash_client_secret=True,
    )
    assert not ClientPolicy.objects.filter(application=application).exists()
    introspect = lambda: form_post(  # noqa: E731
        Client(), INTROSPECT_PATH, {"token": "anything"}, **basic(application.client_id, secret)
    )
    # Authenticated from the entry: no scope and no introspection without a policy, but not an unknown client.
    response = token_request(application.client_id, secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope", response.content
    assert introspect().status_code == 403
    kept = entry(application.client_id)
    assert isinstance(kept, dict) and kept["policy"] is None

    application.delete()

    assert entry(application.client_id) == token_cache.TOMBSTONE
    response = token_request(application.client_id, secret)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.content
    assert introspect().status_code == 401


def test_a_changed_client_id_retires_the_old_one_at_once(service):
    application = Application.objects.get(client_id=service.client_id)
    application.client_id = "renamed-service"
    application.save()

    assert token_request(service.client_id, service.client_secret).status_code == 401
    assert token_request("renamed-service", service.client_secret).status_code == 200


def test_a_narrowed_policy_takes_effect_on_the_next_request(service):
    policy = ClientPolicy.objects.get(application__client_id=service.client_id)
    policy.scopes = "orders:write"
    policy.save()

    assert entry(service.client_id) == token_cache.TOMBSTONE
    response = token_request(service.client_id, service.client_secret, scope="orders:read")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope", response.content


def test_a_removed_policy_takes_effect_on_the_next_request(service):
    ClientPolicy.objects.get(application__client_id=service.client_id).delete()

    response = token_request(service.client_id, service.client_secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope", response.content


def test_taking_introspection_away_refuses_the_next_introspection(resource_server, alice, public_client):
    settle(resource_server)
    token = mint_token(alice, public_client.application, "openid orders:read")
    send = lambda: form_post(  # noqa: E731
        Client(), INTROSPECT_PATH, {"token": token}, **basic(resource_server.client_id, resource_server.client_secret)
    )
    assert send().status_code == 200
    assert isinstance(entry(resource_server.client_id), dict)

    policy = ClientPolicy.objects.get(application__client_id=resource_server.client_id)
    policy.can_introspect = False
    policy.save()

    assert send().status_code == 403


def test_an_entry_lives_at_most_ttl_seconds(service):
    assert token_cache.TTL <= 30
    assert token_cache.TTL - 5 < seconds_left(service.client_id) <= token_cache.TTL


# --- Races and outages ------------------------------------------------------------------------


def test_a_request_that_read_the_row_before_a_change_cannot_store_it(service):
    cache.delete(token_cache.client_key(service.client_id))

    def read_then_change(client_id):
        row = load_client_row(client_id)  # this request's read, before the change commits
        changed = Application.objects.get(client_id=client_id)
        changed.client_secret = "changed while the request was reading, long enough to be a secret"
        changed.save()
        return row

    token_cache.load_client(service.client_id, read_then_change)

    assert entry(service.client_id) == token_cache.TOMBSTONE
    assert token_request(service.client_id, service.client_secret).status_code == 401


def test_with_the_cache_down_the_client_is_read_from_the_database(service):
    from tests.oauth.test_token_cache import unreachable_cache

    with override_settings(CACHES=unreachable_cache()):
        with CaptureQueriesContext(connection) as captured:
            application = token_cache.load_client(service.client_id, load_client_row)
    assert application is not None and application.client_id == service.client_id
    assert any(f'FROM "{APPLICATION_TABLE}"' in q["sql"] for q in captured.captured_queries)


def test_with_the_cache_down_a_token_request_answers_503_before_reading_the_database(service):
    """The per-IP count and the client's entry share a round trip: an outage refuses the request
    (never uncounted), as the count alone did, before any statement."""
    from tests.oauth.test_token_cache import unreachable_cache

    client = Client(raise_request_exception=False)  # the 503 is handler500's answer
    data = {"grant_type": "client_credentials", "scope": "orders:read"}
    with override_settings(CACHES=unreachable_cache()), CaptureQueriesContext(connection) as captured:
        response = form_post(client, TOKEN_PATH, data, **basic(service.client_id, service.client_secret))

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) > 0
    assert captured.captured_queries == []


# --- Read ahead by the token endpoint -----------------------------------------------------------


def loading_counting_reads(client_id: str):
    with CaptureQueriesContext(connection) as captured:
        application = token_cache.load_client(client_id, load_client_row)
    reads = [q["sql"] for q in captured.captured_queries if f'FROM "{APPLICATION_TABLE}"' in q["sql"]]
    return application, reads


def test_an_entry_read_ahead_is_used_once_by_its_own_client_only(service, public_client):
    kept = entry(service.client_id)
    cache.delete(token_cache.client_key(service.client_id))  # a read of the cache would now miss
    settle(public_client)

    with token_cache.client_read_ahead({token_cache.client_key(service.client_id): kept}):
        first, first_reads = loading_counting_reads(service.client_id)
        other, other_reads = loading_counting_reads(public_client.client_id)
        again, again_reads = loading_counting_reads(service.client_id)

    assert first is not None and first.client_id == service.client_id and first.client_policy.role == "support"
    assert first_reads == []
    assert other is not None and other.client_id == public_client.client_id and len(other_reads) == 1
    assert again is not None and len(again_reads) == 1  # used once: the second look-up reads again


def test_a_tombstone_read_ahead_sends_the_look_up_to_the_database_and_stores_nothing(service):
    cache.delete(token_cache.client_key(service.client_id))

    with token_cache.client_read_ahead({token_cache.client_key(service.client_id): token_cache.TOMBSTONE}):
        application, reads = loading_counting_reads(service.client_id)

    assert application is not None and len(reads) == 1
    assert entry(service.client_id) is None  # the tombstone said a change was under way: not stored


def test_nothing_read_ahead_outlives_its_request(service):
    kept = entry(service.client_id)
    with token_cache.client_read_ahead({token_cache.client_key(service.client_id): kept}):
        pass
    cache.delete(token_cache.client_key(service.client_id))

    application, reads = loading_counting_reads(service.client_id)

    assert application is not None and len(reads) == 1


def test_nothing_is_read_ahead_when_the_throttles_count_in_another_cache(settings):
    assert token_cache.client_keys_to_read_ahead("some-client") == [token_cache.client_key("some-client")]
    assert token_cache.client_keys_to_read_ahead("") == []
    settings.RATELIMIT_USE_CACHE = "throttles"  # its script would read that cache, not the client's

    assert token_cache.client_keys_to_read_ahead("some-client") == []
