"""The per-process role table (``permissions/role_table.py``): one query per role, never a stale answer.

Each process keeps each role's permissions, tagged with a version shared through the cache.
These tests pin what that must not change:

- a role is read once, then answered with no query;
- any change to RolePermission made in this process (a save, a delete, a migration) is read
  on the next call, with no restart; another process's change, announced through the
  shared version, once this process reads the version again (``VERSION_CHECK_INTERVAL``);
- an entry older than ``MAX_AGE`` is read again even when the version did not move (a
  version lost with the cache's data, a change rolled back after it was read);
- with the cache unreachable every call reads the table, and a change to it fails (and
  rolls back) rather than go unannounced;
- end to end: a role that loses a permission loses it on its users' next request, through
  a session or a token.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, transaction
from django.test import Client, override_settings
from oauth2_provider.models import get_application_model

from accounts.models import Role
from core.rules import registry
from core.unavailable import is_service_outage
from oauth.registration import register_client
from permissions import policy, role_table
from permissions.models import RolePermission
from tests.factories import OrderFactory, customer
from tests.support.clients import api_client, api_post as session_post
from tests.support.oauth import REDIRECT_URI, api_get, api_post, assert_api_error, mint_token

pytestmark = pytest.mark.django_db

CUSTOMER = Role.CUSTOMER
DEFAULT_ROLE_PERMISSIONS = registry.default_grants()
DEFAULT_CUSTOMER = frozenset(DEFAULT_ROLE_PERMISSIONS[CUSTOMER])


# --- Helpers -------------------------------------------------------------------------------------


def rows(role: str, perm: str):
    app_label, codename = perm.split(".")
    return RolePermission.objects.filter(
        role=role, permission__content_type__app_label=app_label, permission__codename=codename
    )


def grant(role: str, perm: str) -> RolePermission:
    app_label, codename = perm.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    return RolePermission.objects.create(role=role, permission=permission)


def delete_behind_this_process(role: str, perm: str) -> None:
    """Delete a row the way another process would be seen from here: no signal in this process."""
    pks = list(rows(role, perm).values_list("pk", flat=True))
    assert pks
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(RolePermission._meta.db_table)
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(pks))})", pks)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_cache():
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
            }
        }
    )


@pytest.fixture
def cache_down():
    with unreachable_cache():
        with pytest.raises(Exception) as down:  # django.core.cache.cache follows the setting
            cache.get("anything")
        assert is_service_outage(down.value)
        yield


@pytest.fixture
def clock(monkeypatch):
    """The role table's monotonic clock (entry ages and version checks), moved by hand."""
    now = SimpleNamespace(value=1_000_000.0)
    monkeypatch.setattr(role_table, "time", SimpleNamespace(monotonic=lambda: now.value))
    return now


def past_the_version_check(clock) -> None:
    """Long enough for this process to read the shared version again."""
    clock.value += role_table.VERSION_CHECK_INTERVAL + 0.001


@pytest.fixture
def public_app(db):
    registered = register_client(
        name="Role Table App", client_type="public", grant="authorization-code",
        scopes=["orders:read", "orders:write"], redirect_uris=[REDIRECT_URI],
    )
    return get_application_model().objects.get(client_id=registered.client_id)


# --- One query per role ----------------------------------------------------------------------------


def test_a_role_is_read_once_then_answered_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        first = role_table.permissions_of(CUSTOMER)
    with django_assert_num_queries(0):
        second = role_table.permissions_of(CUSTOMER)

    assert first == second == DEFAULT_CUSTOMER


def test_each_role_is_kept_apart(django_assert_num_queries):
    with django_assert_num_queries(2):
        customer_permissions = role_table.permissions_of(CUSTOMER)
        manager_permissions = role_table.permissions_of(Role.MANAGER)
    with django_assert_num_queries(0):
        assert role_table.permissions_of(CUSTOMER) == customer_permissions == DEFAULT_CUSTOMER
        assert (
            role_table.permissions_of(Role.MANAGER)
            == manager_permissions
            == frozenset(DEFAULT_ROLE_PERMISSIONS[Role.MANAGER])
        )


def test_the_policy_reads_the_role_through_the_table(django_assert_num_queries):
    """policy.role_permissions (hence decide) of fresh principals: one query for the role in all."""
    users = [customer(), customer()]

    with django_assert_num_queries(1):
        assert all(policy.decide(user, "orders.add_order") for user in users)
        assert not any(policy.decide(user, "orders.decide_refund") for user in users)


# --- A change is read on the next call ---------------------------------------------------------------


def test_deleting_a_row_is_seen_by_the_next_call(django_assert_num_queries):
    assert "orders.pay_order" in role_table.permissions_of(CUSTOMER)

    rows(CUSTOMER, "orders.pay_order").delete()

    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}


def test_adding_a_row_is_seen_by_the_next_call(django_assert_num_queries):
    assert "orders.decide_refund" not in role_table.permissions_of(CUSTOMER)

    grant(CUSTOMER, "orders.decide_refund")

    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER | {"orders.decide_refund"}


def test_moving_a_row_to_another_role_is_seen_by_both(django_assert_num_queries):
    assert "orders.pay_order" not in role_table.permissions_of(Role.SUPPORT)
    assert "orders.pay_order" in role_table.permissions_of(CUSTOMER)

    row = rows(CUSTOMER, "orders.pay_order").get()
    row.role = Role.SUPPORT
    row.save()

    with django_assert_num_queries(2):
        assert "orders.pay_order" in role_table.permissions_of(Role.SUPPORT)
        assert "orders.pay_order" not in role_table.permissions_of(CUSTOMER)


def test_a_change_sets_a_new_shared_version_now_and_after_the_commit(django_capture_on_commit_callbacks):
    role_table.permissions_of(CUSTOMER)
    before = cache.get(role_table.VERSION_KEY)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rows(CUSTOMER, "orders.pay_order").delete()
        during = cache.get(role_table.VERSION_KEY)
    after = cache.get(role_table.VERSION_KEY)

    assert callbacks, "no new version was scheduled for after the commit"
    assert len({before, during, after}) == 3 and None not in {before, during, after}


def test_a_change_by_another_process_is_read_once_the_shared_version_moves(clock, django_assert_num_queries):
    assert "orders.pay_order" in role_table.permissions_of(CUSTOMER)
    delete_behind_this_process(CUSTOMER, "orders.pay_order")
    past_the_version_check(clock)

    with django_assert_num_queries(0):  # the version has not moved: nothing tells this process
        assert "orders.pay_order" in role_table.permissions_of(CUSTOMER)

    cache.set(role_table.VERSION_KEY, "set-by-another-process", timeout=None)  # what its change does
    past_the_version_check(clock)

    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}
    with django_assert_num_queries(0):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}


def test_a_lost_version_is_replaced_and_the_table_read_again(clock, django_assert_num_queries):
    """A cache flush loses the version: the next reader sets a new one, which no entry carries."""
    role_table.permissions_of(CUSTOMER)
    delete_behind_this_process(CUSTOMER, "orders.pay_order")

    cache.delete(role_table.VERSION_KEY)
    past_the_version_check(clock)

    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}
    assert cache.get(role_table.VERSION_KEY) is not None


def test_a_migration_sets_a_new_version(django_assert_num_queries):
    """Data migrations write through historical models (no row signals): post_migrate announces them."""
    role_table.permissions_of(CUSTOMER)
    before = cache.get(role_table.VERSION_KEY)
    delete_behind_this_process(CUSTOMER, "orders.pay_order")  # what a data migration might do

    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    assert cache.get(role_table.VERSION_KEY) not in (None, before)
    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}


def test_a_migration_with_the_cache_down_does_not_fail():
    with unreachable_cache():
        role_table.on_migrate(sender=None)  # logged; MAX_AGE bounds the rest


# --- MAX_AGE ---------------------------------------------------------------------------------------------


def test_an_entry_older_than_max_age_is_read_again(clock, django_assert_num_queries):
    role_table.permissions_of(CUSTOMER)
    delete_behind_this_process(CUSTOMER, "orders.pay_order")  # and the version never moves

    clock.value += role_table.MAX_AGE - 1
    with django_assert_num_queries(0):
        assert "orders.pay_order" in role_table.permissions_of(CUSTOMER)

    clock.value += 2
    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}
    with django_assert_num_queries(0):  # and kept again from then on
        role_table.permissions_of(CUSTOMER)


# --- The cache is unreachable -----------------------------------------------------------------------------


def test_with_the_cache_down_every_call_reads_the_table(cache_down, django_assert_num_queries):
    for _ in range(3):
        with django_assert_num_queries(1):
            assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER

    delete_behind_this_process(CUSTOMER, "orders.pay_order")

    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == DEFAULT_CUSTOMER - {"orders.pay_order"}


def test_with_the_cache_down_an_entry_kept_before_is_not_used(clock, django_assert_num_queries):
    role_table.permissions_of(CUSTOMER)
    delete_behind_this_process(CUSTOMER, "orders.pay_order")

    with unreachable_cache():
        past_the_version_check(clock)  # the outage is noticed when the version is read again
        with django_assert_num_queries(1):
            assert "orders.pay_order" not in role_table.permissions_of(CUSTOMER)


def test_with_the_cache_down_the_policy_still_decides(cache_down):
    alice = customer()

    assert policy.decide(alice, "orders.add_order")
    assert not policy.decide(alice, "orders.decide_refund")
    order = OrderFactory(owner=alice)
    assert policy.decide(alice, "orders.view_order", order)
    assert not policy.decide(customer(), "orders.view_order", order)


def test_with_the_cache_down_a_change_fails_and_rolls_back(cache_down):
    with pytest.raises(Exception) as raised:
        with transaction.atomic():
            rows(CUSTOMER, "orders.pay_order").delete()

    assert is_service_outage(raised.value)
    assert rows(CUSTOMER, "orders.pay_order").exists()


# --- End to end: the next request, no restart ----------------------------------------------------------------


def test_a_role_losing_view_order_hides_orders_on_the_next_session_request():
    alice = customer()
    order = OrderFactory(owner=alice)
    browser = api_client(alice)
    assert [row["id"] for row in browser.get("/api/orders/").json()["results"]] == [str(order.pk)]
    assert browser.get(f"/api/orders/{order.pk}/").status_code == 200

    rows(CUSTOMER, "orders.view_order").delete()

    listing = browser.get("/api/orders/")
    assert listing.status_code == 200 and listing.json()["results"] == []  # the list is filtered to nothing
    assert browser.get(f"/api/orders/{order.pk}/").status_code == 404
    assert "orders.view_order" not in browser.get("/api/me/").json()["permissions"]


def test_a_role_losing_add_order_is_refused_on_the_next_session_request():
    alice = customer()
    browser = api_client(alice)
    created = session_post(browser, "/api/orders/", {"amount": "12.50", "currency": "EUR"})
    assert created.status_code == 201, created.content

    rows(CUSTOMER, "orders.add_order").delete()

    refused = session_post(browser, "/api/orders/", {"amount": "12.50", "currency": "EUR"})
    assert_api_error(refused, 403, "FORBIDDEN")
    assert refused.json()["message"] == "You do not have permission to create orders"


def test_a_role_losing_add_order_is_refused_on_the_next_token_request(public_app):
    alice = customer()
    token = mint_token(alice, public_app, "orders:read orders:write")
    order = OrderFactory(owner=alice)
    assert api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"}).status_code == 201
    assert api_get(Client(), f"/api/orders/{order.pk}/", token).status_code == 200

    rows(CUSTOMER, "orders.add_order").delete()
    rows(CUSTOMER, "orders.view_order").delete()

    assert_api_error(
        api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"}), 403, "FORBIDDEN"
    )
    assert_api_error(api_get(Client(), f"/api/orders/{order.pk}/", token), 404, "NOT_FOUND")


def test_a_role_gaining_a_permission_has_it_on_the_next_request():
    alice = customer()
    browser = api_client(alice)
    assert "orders.decide_refund" not in browser.get("/api/me/").json()["permissions"]

    grant(CUSTOMER, "orders.decide_refund")

    assert "orders.decide_refund" in browser.get("/api/me/").json()["permissions"]


def test_with_the_cache_down_a_change_made_elsewhere_is_seen_on_the_next_request(public_app, clock):
    alice = customer()
    token = mint_token(alice, public_app, "orders:read orders:write")
    assert api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"}).status_code == 201

    with unreachable_cache():
        past_the_version_check(clock)
        assert api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"}).status_code == 201
        delete_behind_this_process(CUSTOMER, "orders.add_order")
        refused = api_post(Client(), "/api/orders/", token, {"amount": "12.50", "currency": "EUR"})

    assert_api_error(refused, 403, "FORBIDDEN")


# --- A change rolled back ------------------------------------------------------------------------------------


def test_a_change_rolled_back_after_this_process_read_it_is_forgotten_within_max_age(clock, django_assert_num_queries):
    """The version moves before the commit; a read in the same transaction keeps the uncommitted rows
    under it, and a rollback sets no other version. MAX_AGE is what bounds that (see the module)."""
    before = role_table.permissions_of(CUSTOMER)

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            rows(CUSTOMER, "orders.pay_order").delete()
            assert "orders.pay_order" not in role_table.permissions_of(CUSTOMER)  # a read in the same transaction
            raise RuntimeError("the admin's request fails after the delete")
    assert rows(CUSTOMER, "orders.pay_order").exists()

    clock.value += role_table.MAX_AGE
    with django_assert_num_queries(1):
        assert role_table.permissions_of(CUSTOMER) == before
