"""A non-admin refused on the users API is told the action they attempted, and it is audited.

``DELETE /api/users/<id>/`` by a customer answered "You do not have permission to view users":
the view checked ``view_user`` first whatever the method. The contract's message names the
action ("... to delete users"); the phrase for each permission is ``permissions.enforce.ACTIONS``.
"""

from __future__ import annotations

import uuid

import pytest

from accounts.models import AuditEvent, Region, Role, User
from tests.factories import UserFactory
from tests.support.clients import api_call, api_client

pytestmark = pytest.mark.django_db

NON_ADMIN_ROLES = (Role.CUSTOMER, Role.SUPPORT, Role.MANAGER)
# method -> (the permission, the contract's message)
DETAIL = {
    "GET": ("accounts.view_user", "You do not have permission to view users"),
    "PATCH": ("accounts.change_user", "You do not have permission to change users"),
    "DELETE": ("accounts.delete_user", "You do not have permission to delete users"),
}
TARGETS = ("self", "another user", "a missing id")


def target_id(caller: User, target: str):
    if target == "self":
        return caller.pk
    if target == "another user":
        return UserFactory(role=Role.CUSTOMER, region=Region.US).pk
    return uuid.uuid4()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("method", list(DETAIL))
@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_a_non_admin_on_a_user_is_refused_with_the_action_they_attempted(role, method, target):
    caller = UserFactory(role=role, region=Region.EU)
    perm, message = DETAIL[method]
    pk = target_id(caller, target)
    before = list(User.objects.order_by("pk").values_list("pk", "role", "region", "is_active", "deleted_at"))

    response = api_call(
        api_client(caller), method, f"/api/users/{pk}/", {"role": "admin"} if method == "PATCH" else None
    )

    assert response.status_code == 403, response.content
    assert response.json() == {"status": "error", "code": "FORBIDDEN", "message": message}
    denial = AuditEvent.objects.get(event=AuditEvent.Type.ACCESS_DENIED)
    assert denial.actor_id == caller.pk
    assert denial.reason == f"{perm}: role {role} does not hold {perm}"
    assert list(User.objects.order_by("pk").values_list("pk", "role", "region", "is_active", "deleted_at")) == before


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_a_non_admin_listing_users_is_refused_to_view_users(role):
    caller = UserFactory(role=role, region=Region.EU)

    response = api_client(caller).get("/api/users/")

    assert response.json() == {
        "status": "error",
        "code": "FORBIDDEN",
        "message": "You do not have permission to view users",
    }
    assert AuditEvent.objects.get(event=AuditEvent.Type.ACCESS_DENIED).reason.startswith("accounts.view_user:")


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("role", [*NON_ADMIN_ROLES, Role.ADMIN])
def test_the_user_list_takes_no_patch_or_delete(role, method):
    caller = UserFactory(role=role, region="" if role == Role.ADMIN else Region.EU)

    response = api_call(api_client(caller), method, "/api/users/", {"role": "admin"})

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
