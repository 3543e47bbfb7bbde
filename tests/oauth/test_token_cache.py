"""The access token cache (``oauth/token_cache.py``): fast, and never more permissive than the database.

A bearer request reads its token (with the token's user and client) from the shared cache
instead of the database. These tests pin what that must not change:

- a second request skips the token query, and what is kept holds no credential (token,
  password hash, client secret); the instances rebuilt from it defer those fields, so
  saving one never blanks them;
- every write that could change the answer (revocation, consent revoked, password change,
  role, region, deactivation, deletion, a client's row) takes effect on the very next
  request, while a sign-in's ``last_login`` stamp keeps the entry;
- a cached token is still refused once it expires, and an entry outlives neither ``TTL``
  nor the token;
- a request that read the row before a revocation cannot store it afterwards (tombstones
  and ``cache.add``), even when the tombstone is lost before the commit;
- with the cache unreachable a request reads the database, and a revocation fails (and
  rolls back) instead of leaving a live entry behind;
- machine clients (client credentials, no user) go through the cache too.
"""

from __future__ import annotations

import base64
import pickle
import socket
import time
from datetime import timedelta
from types import SimpleNamespace

import oauth2_provider.models as dot_models
import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_init
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value
from oauth2_provider.oauth2_validators import OAuth2Validator

from accounts.models import Region, Role, User
from core.unavailable import is_service_outage
from oauth import consent, token_cache
from oauth.models import ClientPolicy
from tests.factories import PASSWORD, OrderFactory, admin, customer, support
from tests.support.clients import api_call, api_client
from tests.support.oauth import REVOKE_PATH, TOKEN_PATH, api_get, assert_api_error, form_post, mint_token
from tests.support.sign_in import page_client

AccessToken = get_access_token_model()
Application = get_application_model()

pytestmark = pytest.mark.django_db

ALL = "openid profile email orders:read orders:write"
TOKEN_TABLE = AccessToken._meta.db_table


# --- Helpers -------------------------------------------------------------------------------------


@pytest.fixture
def token(alice, public_client) -> str:
    return mint_token(alice, public_client.application, ALL)


def cache_key(raw_token: str) -> str:
    return token_cache.key(token_cache.checksum(raw_token))


def entry_of(raw_token: str):
    """What the cache holds for the token: a dict (the rows), the tombstone, or None."""
    return cache.get(cache_key(raw_token))


def stored_bytes(raw_token: str) -> bytes:
    """The bytes the cache backend really holds for the token's entry (Redis or LocMem)."""
    if hasattr(cache, "client"):  # django-redis
        raw = cache.client.get_client(write=False).get(cache.make_key(cache_key(raw_token)))
    else:  # LocMemCache keeps each value pickled
        raw = cache._cache[cache.make_and_validate_key(cache_key(raw_token))]
    assert raw is not None
    return bytes(raw)


def seconds_left(raw_token: str) -> float:
    """How long the token's entry has left to live, on django-redis or LocMemCache."""
    if hasattr(cache, "ttl"):  # django-redis
        return cache.ttl(cache_key(raw_token))
    return cache._expire_info[cache.make_and_validate_key(cache_key(raw_token))] - time.time()


def token_queries(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if TOKEN_TABLE in query["sql"]]


def get_counting_token_queries(raw_token: str, path: str = "/api/orders/"):
    """GET ``path`` with the token; return (response, the SQL that read the access token table)."""
    with CaptureQueriesContext(connection) as captured:
        response = api_get(Client(), path, raw_token)
    return response, token_queries(captured)


def warm(raw_token: str, path: str = "/api/orders/"):
    """A first request, which stores the token in the cache; return its response."""
    response = api_get(Client(), path, raw_token)
    assert response.status_code == 200, response.content
    assert isinstance(entry_of(raw_token), dict), "the first request did not cache the token"
    return response


def assert_invalid_token(response) -> None:
    assert_api_error(response, 401, "INVALID_TOKEN")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def listed_ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {order["id"] for order in response.json()["results"]}


def never_called(raw_token: str):
    raise AssertionError("the database was read although the token is cached")


def dot_loader(raw_token: str):
    """DOT's own look-up (select_related user and application), as the validator's super() does."""
    return OAuth2Validator()._load_access_token(raw_token)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_cache() -> dict:
    """CACHES for a Redis nobody listens for."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }


@pytest.fixture
def cache_down():
    """The shared cache is unreachable (a Redis nobody listens for); the database is fine."""
    with override_settings(CACHES=unreachable_cache()):
        with pytest.raises(Exception) as down:  # django.core.cache.cache follows the setting
            cache.get("anything")
        assert is_service_outage(down.value)
        yield


def basic_auth(registered) -> dict[str, str]:
    credentials = base64.b64encode(f"{registered.client_id}:{registered.client_secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def client_credentials_token(registered) -> str:
    response = Client().post(
        TOKEN_PATH, {"grant_type": "client_credentials", "scope": "orders:read"}, headers=basic_auth(registered)
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


# --- The cache is used ---------------------------------------------------------------------------


def test_a_second_bearer_request_does_not_query_the_access_token_table(token):
    first, first_token_queries = get_counting_token_queries(token)
    second, second_token_queries = get_counting_token_queries(token)

    assert first.status_code == 200 and second.status_code == 200
    assert len(first_token_queries) == 1, first_token_queries
    assert second_token_queries == []
    assert second.json() == first.json()


def test_a_second_request_acts_for_the_same_user_with_the_same_scopes(token, alice):
    me_first = api_get(Client(), "/api/me/", token).json()
    me_second, queries = get_counting_token_queries(token, "/api/me/")

    assert queries == []
    assert me_second.json() == me_first
    assert me_first["id"] == str(alice.pk) and "orders.add_order" in me_first["permissions"]


def test_an_unknown_token_is_not_cached():
    assert_invalid_token(api_get(Client(), "/api/orders/", "x" * 40))

    assert entry_of("x" * 40) is None


# --- What is kept --------------------------------------------------------------------------------


def test_the_entry_holds_no_token_no_password_hash_and_no_client_secret(alice, web_client):
    raw = mint_token(alice, web_client.application, "orders:read")
    password_hash = User.objects.get(pk=alice.pk).password
    stored_secret = Application.objects.get(pk=web_client.application.pk).client_secret
    assert password_hash and stored_secret and web_client.client_secret  # there is something to leak

    warm(raw)
    entry = entry_of(raw)

    assert set(entry) == {"token", "user", "application"}
    assert "token" not in entry["token"]
    assert "password" not in entry["user"]
    assert "client_secret" not in entry["application"]
    assert entry["token"]["token_checksum"] == token_cache.checksum(raw)
    assert entry["user"]["id"] == alice.pk and entry["application"]["id"] == web_client.application.pk
    values = [value for row in entry.values() for value in row.values()]
    for secret in (raw, password_hash, stored_secret, web_client.client_secret):
        assert secret not in values
    for blob in (pickle.dumps(entry), stored_bytes(raw)):
        for secret in (raw, password_hash, stored_secret, web_client.client_secret):
            assert secret.encode() not in blob


def test_the_rebuilt_instances_defer_the_credentials(token, alice):
    warm(token)

    rebuilt = token_cache.load(token, never_called)

    assert rebuilt.pk == AccessToken.objects.get().pk
    assert "token" in rebuilt.get_deferred_fields()
    assert "password" in rebuilt.user.get_deferred_fields()
    assert "client_secret" in rebuilt.application.get_deferred_fields()
    assert (rebuilt.user.pk, rebuilt.user.email, rebuilt.user.role) == (alice.pk, alice.email, Role.CUSTOMER)
    # A deferred field is read from the database when asked for: the real hash, never "".
    assert rebuilt.user.password == User.objects.get(pk=alice.pk).password != ""


def test_the_rebuilt_instances_are_what_the_database_gives(token, alice):
    """Built without ``Model.__init__`` where that is the same: every field's value, unsaved-looking state none."""
    warm(token)

    rebuilt = token_cache.load(token, never_called)
    stored = AccessToken.objects.select_related("user", "application").get()

    for built, row in ((rebuilt, stored), (rebuilt.user, stored.user), (rebuilt.application, stored.application)):
        for field in row._meta.concrete_fields:
            if field.attname not in built.get_deferred_fields():
                assert getattr(built, field.attname) == getattr(row, field.attname), field.attname
        assert (built._state.adding, built._state.db) == (False, "default")


def test_two_requests_never_share_a_json_value_of_the_same_entry(token, alice):
    """The same bytes may be decoded once per process: a JSON field's value is copied per instance."""
    AccessToken.objects.update(resource=["http://testserver/api/"])
    warm(token)

    first = token_cache.load(token, never_called)
    first.resource.append("https://elsewhere.example.com/")
    second = token_cache.load(token, never_called)

    assert second.resource == ["http://testserver/api/"]
    assert entry_of(token)["token"]["resource"] == ["http://testserver/api/"]


def test_a_model_with_an_init_receiver_is_rebuilt_through_from_db(token, alice):
    """``post_init`` receivers (ImageField's, a project's own) still see every rebuilt instance."""
    warm(token)
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=User)
    try:
        rebuilt = token_cache.load(token, never_called)
    finally:
        post_init.disconnect(receiver, sender=User)

    assert seen == [rebuilt.user]
    assert "password" in rebuilt.user.get_deferred_fields()


def test_saving_the_rebuilt_user_does_not_blank_its_password(token, alice):
    warm(token)
    password_hash = User.objects.get(pk=alice.pk).password

    user = token_cache.load(token, never_called).user
    user.name = "Alice Renamed"
    user.save()

    row = User.objects.get(pk=alice.pk)
    assert row.name == "Alice Renamed"
    assert row.password == password_hash
    assert row.check_password(PASSWORD)


def test_saving_the_rebuilt_application_does_not_blank_its_secret(alice, web_client):
    raw = mint_token(alice, web_client.application, "orders:read")
    warm(raw)
    stored_secret = Application.objects.get(pk=web_client.application.pk).client_secret

    application = token_cache.load(raw, never_called).application
    application.name = "Web App, renamed"
    application.save()

    row = Application.objects.get(pk=web_client.application.pk)
    assert row.name == "Web App, renamed"
    assert row.client_secret == stored_secret


def test_the_rebuilt_token_holds_its_user_and_client_as_the_descriptors_would(token, alice, public_client):
    warm(token)

    with CaptureQueriesContext(connection) as captured:
        rebuilt = token_cache.load(token, never_called)
        user, application = rebuilt.user, rebuilt.application

    assert captured.captured_queries == []
    assert (user.pk, rebuilt.user_id) == (alice.pk, alice.pk)
    assert (application.pk, rebuilt.application_id) == (public_client.application.pk, public_client.application.pk)
    assert AccessToken._meta.get_field("user").is_cached(rebuilt)
    assert AccessToken._meta.get_field("application").is_cached(rebuilt)


def test_a_relation_whose_key_is_not_the_related_rows_goes_through_the_descriptor(token, alice):
    """The related object is cached directly only where the column already holds its key."""
    warm(token)
    entry = entry_of(token)
    entry["token"]["user_id"] = customer().pk  # not the user row's key
    del entry["token"]["application_id"]  # missing: an entry written before the field existed

    rebuilt = token_cache._rebuild(entry)

    assert (rebuilt.user_id, rebuilt.user.pk) == (alice.pk, alice.pk)  # the descriptor sets the column
    assert rebuilt.application_id == rebuilt.application.pk


class RecordingRouter:
    """A database router with no opinion that notes the relations it is asked about."""

    asked: list[tuple[str, str]] = []

    def allow_relation(self, obj1, obj2, **hints):
        self.asked.append((obj1._meta.label_lower, obj2._meta.label_lower))
        return None


def test_with_a_database_router_the_relations_are_set_through_the_descriptors(token, alice):
    """A router may refuse a relation (``allow_relation``): it is asked, as for any assignment."""
    warm(token)
    RecordingRouter.asked = []

    with override_settings(DATABASE_ROUTERS=[RecordingRouter()]):
        rebuilt = token_cache.load(token, never_called)

    assert rebuilt.user.pk == alice.pk
    assert ("accounts.user", "oauth2_provider.accesstoken") in RecordingRouter.asked
    assert ("oauth2_provider.application", "oauth2_provider.accesstoken") in RecordingRouter.asked


def test_only_a_plain_foreign_key_is_attached_directly():
    """A one-to-one's descriptor also caches the reverse side: it keeps going through it."""
    assert token_cache._foreign_key(AccessToken, "user") == ((("user_id", "id"),), "user")
    assert token_cache._foreign_key(ClientPolicy, "application") is None


def test_a_json_value_is_copied_to_its_depth():
    """A flat list or dict of immutable values is copied in one step; anything nested is deep-copied."""
    flat, nested, mapping = ["https://a.example/"], [["x"], {"k": ["v"]}], {"a": {"b": 1}}

    assert token_cache._own(flat) == flat and token_cache._own(flat) is not flat
    copied = token_cache._own(nested)
    assert copied == nested and copied[0] is not nested[0] and copied[1]["k"] is not nested[1]["k"]
    copied_mapping = token_cache._own(mapping)
    assert copied_mapping == mapping and copied_mapping["a"] is not mapping["a"]


# --- Revocation takes effect on the next request -----------------------------------------------


def test_a_deleted_token_is_refused_on_the_next_request_although_it_was_cached(token):
    warm(token)

    AccessToken.objects.get().delete()

    assert entry_of(token) == token_cache.TOMBSTONE
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_a_token_revoked_at_the_revocation_endpoint_is_refused_on_the_next_request(token, public_client):
    warm(token)

    response = form_post(Client(), REVOKE_PATH, {"token": token, "client_id": public_client.client_id})

    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_revoking_consent_refuses_the_clients_cached_tokens_at_once(token, alice, public_client):
    warm(token)

    consent.revoke(alice, public_client.application)

    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_revoking_an_app_on_the_connected_apps_page_refuses_its_cached_tokens(token, alice, public_client):
    warm(token)
    browser = page_client(alice)

    response = browser.post(f"/accounts/apps/{public_client.application.pk}/revoke/")

    assert response.status_code == 302, response.content
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_a_password_change_refuses_every_cached_token_at_once(token, alice, other_public_client):
    other = mint_token(alice, other_public_client.application, "orders:read")
    warm(token)
    warm(other)
    browser = page_client(alice)

    response = browser.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase 77",
            "new_password2": "a brand new passphrase 77",
        },
    )

    assert response.status_code == 302, response.content
    assert_invalid_token(api_get(Client(), "/api/orders/", token))
    assert_invalid_token(api_get(Client(), "/api/orders/", other))


# --- The user changes: the next request sees it --------------------------------------------------


def test_a_role_change_takes_effect_on_the_next_request(alice, public_client):
    """Alice, a customer, sees her own order; promoted to support she sees her region's."""
    token = mint_token(alice, public_client.application, "orders:read")
    own = OrderFactory(owner=alice)
    neighbours = OrderFactory(owner=customer(Region.EU))
    assert listed_ids(warm(token)) == {str(own.pk)}

    response = api_call(api_client(admin()), "PATCH", f"/api/users/{alice.pk}/", {"role": "support"})
    assert response.status_code == 200, response.content

    assert listed_ids(api_get(Client(), "/api/orders/", token)) == {str(own.pk), str(neighbours.pk)}
    assert api_get(Client(), "/api/me/", token).json()["role"] == "support"


def test_a_region_change_moves_the_visible_orders_on_the_next_request(public_client):
    sam = support(Region.EU)
    token = mint_token(sam, public_client.application, "orders:read")
    eu_order = OrderFactory(owner=customer(Region.EU))
    us_order = OrderFactory(owner=customer(Region.US))
    assert listed_ids(warm(token)) == {str(eu_order.pk)}

    response = api_call(api_client(admin()), "PATCH", f"/api/users/{sam.pk}/", {"region": "US"})
    assert response.status_code == 200, response.content

    assert listed_ids(api_get(Client(), "/api/orders/", token)) == {str(us_order.pk)}


def test_deactivating_the_user_refuses_the_cached_token_even_with_the_row_left(token, alice):
    """A plain save of is_active (the admin's checkbox): the token row stays, the cache must not."""
    warm(token)

    alice.is_active = False
    alice.save()

    assert AccessToken.objects.filter(user=alice).exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))
    assert_invalid_token(api_get(Client(), "/api/me/", token))


def test_deactivating_the_user_through_the_api_refuses_the_cached_token(token, alice):
    warm(token)

    response = api_call(api_client(admin()), "PATCH", f"/api/users/{alice.pk}/", {"is_active": False})

    assert response.status_code == 200, response.content
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_deleting_the_user_refuses_the_cached_token_at_once(token, alice):
    warm(token)

    response = api_call(api_client(admin()), "DELETE", f"/api/users/{alice.pk}/")

    assert response.status_code == 204, response.content
    assert User.objects.get(pk=alice.pk).is_deleted
    assert_invalid_token(api_get(Client(), "/api/me/", token))


def test_a_soft_deleted_user_with_a_token_row_left_is_refused_on_the_next_request(token, alice):
    """Even if the row's deleted_at were set without revoking the tokens, the cache follows the user."""
    warm(token)

    alice.deleted_at = timezone.now()
    alice.save()

    assert AccessToken.objects.filter(user=alice).exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


# --- Which saves remove an entry -------------------------------------------------------------------


def test_a_sign_in_keeps_the_users_cached_tokens(token, alice):
    warm(token)

    alice.last_login = timezone.now()
    alice.save(update_fields=["last_login"])
    assert isinstance(entry_of(token), dict)

    api_client(alice)  # a real sign-in through the API: it stamps last_login
    assert isinstance(entry_of(token), dict)
    response, queries = get_counting_token_queries(token)
    assert response.status_code == 200 and queries == []


@pytest.mark.parametrize(
    "update_fields",
    [None, ["name"], ["last_login", "name"], ["password"]],
    ids=["all", "name", "last_login+name", "password"],
)
def test_any_other_user_save_removes_the_users_entries(token, alice, update_fields):
    warm(token)

    alice.name = "Alice Renamed"
    alice.save(update_fields=update_fields)

    assert entry_of(token) == token_cache.TOMBSTONE
    response, queries = get_counting_token_queries(token)
    assert response.status_code == 200 and len(queries) == 1


def test_a_user_save_keeps_other_users_entries(token, alice, public_client):
    bob = customer()
    bobs = mint_token(bob, public_client.application, ALL)
    warm(token)
    warm(bobs)

    alice.name = "Alice Renamed"
    alice.save()

    assert entry_of(token) == token_cache.TOMBSTONE
    assert isinstance(entry_of(bobs), dict)


def test_an_application_save_removes_the_entries_of_its_tokens_only(token, alice, public_client, other_public_client):
    other = mint_token(alice, other_public_client.application, ALL)
    warm(token)
    warm(other)

    application = Application.objects.get(pk=public_client.application.pk)
    application.name = "Demo App, renamed"
    application.save()

    assert entry_of(token) == token_cache.TOMBSTONE
    assert isinstance(entry_of(other), dict)
    response, queries = get_counting_token_queries(token)
    assert response.status_code == 200 and len(queries) == 1


def test_a_token_row_update_removes_its_entry(token):
    warm(token)

    row = AccessToken.objects.get()
    row.scope = "orders:read"
    row.save()

    assert entry_of(token) == token_cache.TOMBSTONE
    me = api_get(Client(), "/api/me/", token).json()
    assert "orders.add_order" not in me["permissions"]


def test_a_new_token_leaves_the_users_other_entries_alone(token, alice, public_client):
    warm(token)

    mint_token(alice, public_client.application, ALL)

    assert isinstance(entry_of(token), dict)


# --- Expiry ------------------------------------------------------------------------------------------


def test_a_cached_token_is_refused_once_it_expires(alice, public_client, monkeypatch):
    """The entry is still there, but DOT re-checks ``expires`` on what it rebuilds."""
    token = mint_token(alice, public_client.application, ALL, expires_in=60)
    warm(token)

    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(dot_models, "timezone", SimpleNamespace(now=lambda: later))  # DOT's is_expired() clock
    response, queries = get_counting_token_queries(token)

    assert isinstance(entry_of(token), dict) and queries == []  # answered from the entry
    assert_invalid_token(response)


def test_an_entry_lives_at_most_ttl_seconds(token):
    warm(token)  # the token expires in 10 minutes

    assert token_cache.TTL <= 30
    assert token_cache.TTL - 5 < seconds_left(token) <= token_cache.TTL


def test_an_entry_never_outlives_its_token(alice, public_client):
    token = mint_token(alice, public_client.application, ALL, expires_in=5)
    warm(token)

    assert 0 < seconds_left(token) <= 5


def test_a_token_about_to_expire_is_not_cached(alice, public_client):
    token = mint_token(alice, public_client.application, ALL)
    AccessToken.objects.update(expires=timezone.now() + timedelta(milliseconds=990))  # no signal

    assert api_get(Client(), "/api/orders/", token).status_code == 200
    assert entry_of(token) is None


# --- The race: a request that read the row before a change cannot store it afterwards --------------


def test_a_request_that_read_the_row_before_a_revocation_cannot_store_it(token):
    def load_then_revoke(raw_token):
        row = dot_loader(raw_token)  # this request has read the row...
        AccessToken.objects.filter(pk=row.pk).get().delete()  # ...and the token is revoked meanwhile
        return row

    returned = token_cache.load(token, load_then_revoke)

    assert returned is not None and returned.user_id is not None  # the request itself had read it in time
    assert entry_of(token) == token_cache.TOMBSTONE
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_a_request_that_read_the_user_before_a_deactivation_cannot_store_it(token, alice):
    def load_then_deactivate(raw_token):
        row = dot_loader(raw_token)
        user = User.objects.get(pk=alice.pk)
        user.is_active = False
        user.save()
        return row

    token_cache.load(token, load_then_deactivate)

    assert entry_of(token) == token_cache.TOMBSTONE
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_the_entry_is_tombstoned_again_after_the_revocation_commits(token, django_capture_on_commit_callbacks):
    """Should the first tombstone be lost before the commit (evicted, expired), a stale store is undone."""
    stale_row = dot_loader(token)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        AccessToken.objects.get().delete()
        cache.delete(cache_key(token))  # the tombstone is lost...
        token_cache.load(token, lambda raw: stale_row)  # ...and a request that read the row stores it
        assert isinstance(entry_of(token), dict)

    assert callbacks, "no tombstone was scheduled for after the commit"
    assert entry_of(token) == token_cache.TOMBSTONE
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_a_tombstone_is_not_replaced_by_the_next_request(token):
    warm(token)
    user = AccessToken.objects.get().user
    user.name = "Changed"
    user.save()

    for _ in range(2):
        response, queries = get_counting_token_queries(token)
        assert response.status_code == 200 and len(queries) == 1  # read from the database each time
    assert entry_of(token) == token_cache.TOMBSTONE


# --- The cache is unreachable ---------------------------------------------------------------------------


def test_with_the_cache_down_a_bearer_request_reads_the_database(token, alice, cache_down):
    row = token_cache.load(token, dot_loader)
    assert row is not None and row.pk == AccessToken.objects.get().pk and row.user == alice

    for _ in range(2):
        response, queries = get_counting_token_queries(token)
        assert response.status_code == 200, response.content
        assert len(queries) == 1


def test_with_the_cache_down_a_revocation_fails_and_rolls_back(token, cache_down):
    row = AccessToken.objects.get()

    with pytest.raises(Exception) as raised:
        with transaction.atomic():
            row.delete()

    assert is_service_outage(raised.value)
    assert AccessToken.objects.filter(pk=row.pk).exists()


def test_with_the_cache_down_a_user_change_fails_and_rolls_back(token, alice, cache_down):
    with pytest.raises(Exception) as raised:
        with transaction.atomic():
            alice.is_active = False
            alice.save()

    assert is_service_outage(raised.value)
    assert User.objects.get(pk=alice.pk).is_active


def test_with_the_cache_down_the_revocation_endpoint_answers_503_and_keeps_the_token(token, public_client, cache_down):
    # The delete's own transaction is the test's here: a savepoint stands in for it.
    with transaction.atomic():
        response = form_post(
            Client(raise_request_exception=False), REVOKE_PATH, {"token": token, "client_id": public_client.client_id}
        )

    assert response.status_code == 503, response.content
    assert AccessToken.objects.exists()


def test_with_the_cache_down_a_user_change_outside_a_transaction_is_not_written(token, alice, cache_down):
    """The entry is dropped before the row is written: no transaction is needed to keep them in step."""
    alice.is_active = False
    with pytest.raises(Exception) as raised:
        alice.save()

    assert is_service_outage(raised.value)
    assert User.objects.get(pk=alice.pk).is_active


def test_with_the_cache_down_a_password_reset_changes_nothing_and_its_link_still_works(token, alice):
    """Never a new password with the old tokens alive: the reset lands whole once the cache is back."""
    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    browser = Client(raise_request_exception=False)
    set_password_page = browser.get(f"/accounts/password/reset/{uid}/{default_token_generator.make_token(alice)}/")
    assert set_password_page.status_code == 302
    new_password = "a brand new passphrase 42"
    form = {"new_password1": new_password, "new_password2": new_password}

    with override_settings(CACHES=unreachable_cache()):
        refused = browser.post(set_password_page["Location"], form)

    assert refused.status_code == 503
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD) and AccessToken.objects.filter(user=alice).exists()

    done = browser.post(set_password_page["Location"], form)
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new_password) and not AccessToken.objects.filter(user=alice).exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_with_the_cache_down_an_expired_token_can_still_be_cleared(alice, public_client, cache_down):
    """An entry never outlives its token, so deleting an expired one (cleartokens) needs no cache."""
    mint_token(alice, public_client.application, ALL, expires_in=-60)

    AccessToken.objects.filter(expires__lt=timezone.now()).delete()

    assert not AccessToken.objects.exists()


# --- A token without a client ------------------------------------------------------------------------------


def test_a_token_without_a_client_is_cached_and_answered_without_an_error(alice):
    """DOT allows a token row with no application (made in a shell or the admin)."""
    raw = mint_token(alice, None, ALL)

    first, first_queries = get_counting_token_queries(raw, "/api/me/")
    second, second_queries = get_counting_token_queries(raw, "/api/me/")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(first_queries) == 1 and second_queries == []
    assert entry_of(raw)["application"] is None


# --- Machine clients -------------------------------------------------------------------------------------


def test_a_machine_clients_token_works_through_the_cache(service_client):
    token = client_credentials_token(service_client)
    eu_order = OrderFactory(owner=customer(Region.EU))
    OrderFactory(owner=customer(Region.US))

    first, first_queries = get_counting_token_queries(token)
    second, second_queries = get_counting_token_queries(token)

    assert listed_ids(first) == listed_ids(second) == {str(eu_order.pk)}
    assert len(first_queries) == 1 and second_queries == []
    assert entry_of(token)["user"] is None
    assert api_get(Client(), "/api/me/", token).json()["client_id"] == service_client.client_id


def test_a_machine_clients_policy_change_is_seen_on_the_next_request(service_client):
    """The client's role and region (ClientPolicy) are not kept in the entry: read per request."""
    token = client_credentials_token(service_client)
    OrderFactory(owner=customer(Region.EU))
    us_order = OrderFactory(owner=customer(Region.US))
    warm(token)

    ClientPolicy.objects.filter(application=service_client.application).update(region=Region.US)

    response, queries = get_counting_token_queries(token)
    assert queries == []
    assert listed_ids(response) == {str(us_order.pk)}


def test_a_revoked_machine_token_is_refused_on_the_next_request(service_client):
    token = client_credentials_token(service_client)
    warm(token)

    response = Client().post(REVOKE_PATH, {"token": token}, headers=basic_auth(service_client))

    assert response.status_code == 200
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_userinfo_answers_through_the_cache(alice, public_client):
    token = mint_token(alice, public_client.application, "openid profile email")
    first = api_get(Client(), "/o/userinfo/", token)
    assert first.status_code == 200, first.content
    assert isinstance(entry_of(token), dict)

    with CaptureQueriesContext(connection) as captured:
        second = api_get(Client(), "/o/userinfo/", token)

    assert token_queries(captured) == []
    assert second.status_code == 200 and second.json() == first.json()
    assert second.json()["email"] == alice.email


# --- A row given a new value ------------------------------------------------------------------------------


def test_a_token_row_given_a_new_value_in_place_refuses_the_old_value(token):
    """DOT updates a row in place on refresh when ROTATE_REFRESH_TOKEN is off: the old value's entry goes."""
    warm(token)

    row = AccessToken.objects.get()
    set_token_value(row, "a-new-token-value-for-the-same-row-000000")
    row.save()

    assert not AccessToken.objects.filter(token_checksum=token_cache.checksum(token)).exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


# --- An entry written by the previous deploy ----------------------------------------------------------------


def test_an_entry_from_before_a_field_was_added_or_removed_rebuilds_by_name(token, alice):
    """A deploy may add or drop a field while entries written by the old code are still alive."""
    first = warm(token)
    entry = entry_of(token)
    user_row = dict(entry["user"])
    del user_row["name"]  # a field the old code did not know: deferred, read when needed
    entry["user"] = {"a_removed_field": "stale", **user_row}  # one the new code no longer has
    cache.set(cache_key(token), entry, timeout=token_cache.TTL)

    response, queries = get_counting_token_queries(token, "/api/me/")

    assert response.status_code == 200
    assert queries == []  # served from the entry
    assert response.json()["email"] == alice.email and response.json()["name"] == alice.name
    assert api_get(Client(), "/api/orders/", token).json() == first.json()
