"""Every non-admin has a region: in the model, in the database, in the users API.

A customer whose region was PATCHed to null could not create an order: the order's
``full_clean()`` raised a Django ``ValidationError`` that reached the API unmapped (500).
Now the combination cannot be stored, the API names ``region`` in a 400, and any Django
``ValidationError`` that reaches the API is a 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts import services
from accounts.models import AuditEvent, Region, Role, User
from core.api import exception_handler
from tests.factories import OrderFactory, UserFactory, admin, customer, manager, support
from tests.support.clients import api_call, api_client, api_post, error

pytestmark = pytest.mark.django_db

REGIONAL_ROLES = [Role.CUSTOMER, Role.SUPPORT, Role.MANAGER]


def patch_user(acting: User, target: User, data: dict):
    return api_call(api_client(acting), "PATCH", f"/api/users/{target.id}/", data)


# --- The users API ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [customer, support, manager], ids=["customer", "support", "manager"])
def test_patching_a_non_admins_region_to_null_is_400_naming_region(make):
    target = make()

    body = error(patch_user(admin(), target, {"region": None}), 400, "VALIDATION_ERROR")

    assert list(body["fields"]) == ["region"]
    assert body["message"] == "Invalid input: region."
    assert User.objects.get(pk=target.pk).region == Region.EU
    assert not AuditEvent.objects.filter(event=AuditEvent.Type.ROLE_CHANGED).exists()


@pytest.mark.parametrize("role", REGIONAL_ROLES)
def test_demoting_an_admin_without_a_region_is_400_naming_region(role):
    target = admin()

    body = error(patch_user(admin(), target, {"role": role}), 400, "VALIDATION_ERROR")

    assert list(body["fields"]) == ["region"]
    assert User.objects.get(pk=target.pk).role == Role.ADMIN


def test_demoting_an_admin_with_a_region_in_the_same_request_works():
    target = admin()

    response = patch_user(admin(), target, {"role": "support", "region": "US"})

    assert response.status_code == 200, response.content
    assert (response.json()["role"], response.json()["region"]) == ("support", "US")


def test_an_admin_may_lose_their_region():
    target = UserFactory(role=Role.ADMIN, region=Region.EU)
    response = patch_user(admin(), target, {"region": None})
    assert response.status_code == 200 and response.json()["region"] is None


def test_a_customer_whose_region_was_refused_still_creates_orders():
    """The reported 500: PATCH region null, then POST /api/orders/ as that customer."""
    alice = customer()
    patch_user(admin(), alice, {"region": None})

    response = api_post(api_client(alice), "/api/orders/", {"amount": "12.50", "currency": "EUR"})

    assert response.status_code == 201, response.content
    assert response.json()["region"] == "EU"


# --- Django's ValidationError in the API's exception handler ---------------------------------


def test_a_django_validation_error_is_a_400_with_fields():
    response = exception_handler(ValidationError({"region": ["Needed."], "__all__": ["Inconsistent."]}), {})

    assert response.status_code == 400
    assert response.data == {
        "status": "error",
        "code": "VALIDATION_ERROR",
        "message": "Invalid input: non_field_errors, region.",
        "fields": {"region": ["Needed."], "non_field_errors": ["Inconsistent."]},
    }


def test_a_django_validation_error_without_fields_is_a_400_too():
    response = exception_handler(ValidationError("Bad."), {})
    assert response.status_code == 400
    assert response.data["fields"] == {"non_field_errors": ["Bad."]}


# --- The model, the database, the services -----------------------------------------------------


@pytest.mark.parametrize("role", REGIONAL_ROLES)
def test_the_database_refuses_a_non_admin_without_a_region(role):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email=f"{role}@example.com", role=role, region="")


def test_the_database_refuses_an_update_that_drops_the_region():
    alice = customer()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=alice.pk).update(region="")


@pytest.mark.parametrize("role", REGIONAL_ROLES)
def test_user_create_refuses_a_non_admin_without_a_region(role):
    with pytest.raises(ValidationError) as raised:
        services.user_create(email="x@example.com", password="a long test passphrase 42", role=role)
    assert list(raised.value.message_dict) == ["region"]
    assert not User.objects.filter(email="x@example.com").exists()


def test_user_update_refuses_a_region_less_non_admin():
    alice = customer()
    with pytest.raises(ValidationError):
        services.user_update(user=alice, acting_user=admin(), region="")
    assert User.objects.get(pk=alice.pk).region == Region.EU


def test_register_client_refuses_a_machine_non_admin_without_a_region():
    from oauth.registration import register_client

    with pytest.raises(ValidationError):
        register_client(
            name="m", client_type="confidential", grant="client-credentials", scopes=["orders:read"], role="customer"
        )


# --- The migration's data step ------------------------------------------------------------------


@contextmanager
def region_check_off():
    """Let the test store what the old code could: a non-admin without a region (rolled back after)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = ON")
            try:
                yield
            finally:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
        else:
            cursor.execute(f"ALTER TABLE {User._meta.db_table} DROP CONSTRAINT user_region_unless_admin")
            yield


def test_the_migration_gives_a_region_less_customer_the_region_of_their_latest_order():
    restore_regions = importlib.import_module("orders.migrations.0003_restore_customer_regions").restore_regions
    alice, bob = customer(Region.US), customer(Region.EU)
    OrderFactory(owner=alice, region=Region.US)
    ada = admin()
    with region_check_off():
        User.objects.filter(pk=alice.pk).update(region="")
        restore_regions(apps, None)
    assert User.objects.get(pk=alice.pk).region == Region.US
    assert User.objects.get(pk=bob.pk).region == Region.EU
    assert User.objects.get(pk=ada.pk).region == ""


def test_the_migration_stops_on_a_region_less_staff_member_and_names_them():
    require_regions = importlib.import_module("accounts.migrations.0002_user_region_unless_admin").require_regions
    sam = support()
    with region_check_off():
        User.objects.filter(pk=sam.pk).update(region="")
        with pytest.raises(RuntimeError, match=f"{sam.pk} \\(support\\)"):
            require_regions(apps, None)
