"""The role -> permission mapping: installed in the database, printed by ``manage.py roles``,
read on every request (so a change takes effect on the user's next request)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Role, User
from core.rules import registry
from orders.models import RefundRequest
from permissions.models import RolePermission
from tests.factories import OrderFactory, RefundRequestFactory, admin, customer, manager
from tests.support.clients import api_call, api_client, api_post

pytestmark = pytest.mark.django_db

# What the apps' policy.py records grant by default (their data migrations install it).
DEFAULT_ROLE_PERMISSIONS = registry.default_grants()
ALL_PERMISSIONS = tuple(sorted({perm for perms in DEFAULT_ROLE_PERMISSIONS.values() for perm in perms}))


def installed() -> dict[str, set[str]]:
    held: dict[str, set[str]] = {role: set() for role in Role.values}
    for role, app, codename in RolePermission.objects.values_list(
        "role", "permission__content_type__app_label", "permission__codename"
    ):
        held[role].add(f"{app}.{codename}")
    return held


def test_the_database_holds_exactly_the_default_mapping():
    assert installed() == {role: set(perms) for role, perms in DEFAULT_ROLE_PERMISSIONS.items()}


def test_the_default_mapping_is_the_contracts():
    """The contract's role table, spelled as permissions."""
    assert set(DEFAULT_ROLE_PERMISSIONS) == set(Role.values)
    customer_perms = set(DEFAULT_ROLE_PERMISSIONS[Role.CUSTOMER])
    assert {"orders.add_order", "orders.pay_order", "orders.cancel_order", "orders.request_refund"} <= customer_perms
    assert "orders.decide_refund" not in customer_perms
    assert set(DEFAULT_ROLE_PERMISSIONS[Role.SUPPORT]) == {
        "orders.view_order",
        "orders.view_refundrequest",
        "orders.request_refund",
    }
    assert set(DEFAULT_ROLE_PERMISSIONS[Role.MANAGER]) == {
        "orders.view_order",
        "orders.view_refundrequest",
        "orders.decide_refund",
    }
    admin_perms = set(DEFAULT_ROLE_PERMISSIONS[Role.ADMIN])
    assert {"orders.decide_refund", "accounts.view_user", "accounts.change_user", "accounts.delete_user"} <= admin_perms
    assert not admin_perms & {"orders.pay_order", "orders.cancel_order", "orders.request_refund"}
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.MANAGER):
        assert not {p for p in DEFAULT_ROLE_PERMISSIONS[role] if p.startswith("accounts.")}, role


def test_roles_command_prints_the_matrix():
    out = StringIO()
    call_command("roles", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["permission", *Role.values]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == set(ALL_PERMISSIONS)
    assert rows["orders.decide_refund"] == [".", ".", "x", "x"]
    assert rows["orders.pay_order"] == ["x", ".", ".", "."]
    assert rows["orders.request_refund"] == ["x", "x", ".", "."]
    assert rows["accounts.delete_user"] == [".", ".", ".", "x"]
    assert rows["orders.view_order"] == ["x", "x", "x", "x"]


def test_roles_command_shows_what_is_installed_not_the_defaults():
    RolePermission.objects.filter(role=Role.MANAGER, permission__codename="decide_refund").delete()
    out = StringIO()
    call_command("roles", stdout=out)
    row = next(line for line in out.getvalue().splitlines() if line.startswith("orders.decide_refund"))
    assert row.split()[1:] == [".", ".", ".", "x"]


def test_the_policy_reads_the_table_on_the_next_request():
    """Removing a row from RolePermission takes the power away at once: nothing is hard-coded."""
    alice = customer()
    order = OrderFactory(owner=alice)
    client = api_client(alice)
    assert client.get(f"/api/orders/{order.id}/").status_code == 200
    RolePermission.objects.filter(role=Role.CUSTOMER, permission__codename="pay_order").delete()
    response = api_post(client, f"/api/orders/{order.id}/pay/")
    assert response.status_code == 403
    assert response.json()["message"] == "You do not have permission to pay this order"
    assert "orders.pay_order" not in client.get("/api/me/").json()["permissions"]


class TestRoleChangeTakesEffectOnTheNextRequest:
    def test_customer_promoted_to_manager_can_now_decide(self):
        ada, carol = admin(), customer("EU")
        refund = RefundRequestFactory(order=OrderFactory(owner=customer("EU"), status="paid"))
        promoted = api_client(carol)
        assert api_post(promoted, f"/api/refund-requests/{refund.id}/approve/").status_code == 404
        assert "orders.decide_refund" not in promoted.get("/api/me/").json()["permissions"]

        response = api_call(api_client(ada), "PATCH", f"/api/users/{carol.id}/", {"role": "manager"})
        assert response.status_code == 200, response.content
        assert response.json()["role"] == "manager"

        me = promoted.get("/api/me/").json()
        assert me["role"] == "manager"
        assert "orders.decide_refund" in me["permissions"]
        response = api_post(promoted, f"/api/refund-requests/{refund.id}/approve/")
        assert response.status_code == 200, response.content
        assert response.json()["decided_by"] == str(carol.id)

    def test_manager_demoted_to_customer_can_no_longer_decide(self):
        ada, maria = admin(), manager("EU")
        refund = RefundRequestFactory(order=OrderFactory(owner=customer("EU"), status="paid"))
        demoted = api_client(maria)
        assert demoted.get(f"/api/refund-requests/{refund.id}/").status_code == 200

        assert api_call(api_client(ada), "PATCH", f"/api/users/{maria.id}/", {"role": "customer"}).status_code == 200

        # A customer sees only their own orders: the request does not exist for them any more.
        assert demoted.get(f"/api/refund-requests/{refund.id}/").status_code == 404
        assert api_post(demoted, f"/api/refund-requests/{refund.id}/approve/").status_code == 404
        assert RefundRequest.objects.get(pk=refund.pk).status == "pending"

    def test_region_change_moves_what_a_manager_sees(self):
        ada, mike = admin(), manager("US")
        eu_order = OrderFactory(owner=customer("EU"))
        client = api_client(mike)
        assert client.get(f"/api/orders/{eu_order.id}/").status_code == 404
        assert api_call(api_client(ada), "PATCH", f"/api/users/{mike.id}/", {"region": "EU"}).status_code == 200
        assert client.get(f"/api/orders/{eu_order.id}/").status_code == 200
        assert User.objects.get(pk=mike.pk).region == "EU"

