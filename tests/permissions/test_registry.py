"""Every permission is declared once, by the app it is about, and the declarations stay whole.

The system checks fail on a declaration the engine could not use; ``manage.py policy``
prints the whole policy from the same records the engine decides with.
"""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from accounts.models import Role
from core.rules import Check, Permission, Registry, Rule, Scope, registry
from permissions import checks, enforce, policy
from permissions.models import RolePermission
from permissions.scopes import catalogue, permissions_for_scopes
from tests.factories import OrderFactory, customer


def error_ids(messages) -> list[str]:
    return sorted(message.id for message in messages)


@pytest.fixture
def scratch_registry(monkeypatch):
    """A registry of our own, so a broken declaration never leaks into other tests."""
    scratch = Registry()
    for module in (checks, policy, enforce):
        monkeypatch.setattr(module, "registry", scratch)
    return scratch


def test_each_app_declares_its_own_permissions():
    owners = {permission.name: permission.app_label for permission in registry.permissions()}
    assert owners["orders.view_order"] == "orders"
    assert owners["accounts.delete_user"] == "accounts"
    assert {"orders.order", "orders.refundrequest", "accounts.user", "oauth.personaltoken"} == {
        p.model for p in registry.object_permissions()
    }


def test_the_declared_policy_passes_its_own_checks():
    assert checks.check_declarations() == []


def test_declaring_one_permission_twice_differently_is_refused():
    scratch = Registry()
    scratch.register(permissions=[Permission("orders.view_order", "view orders")])
    scratch.register(permissions=[Permission("orders.view_order", "view orders")])  # the same again is harmless
    with pytest.raises(ValueError, match="declared twice"):
        scratch.register(permissions=[Permission("orders.view_order", "see orders")])


def test_what_a_scope_covers_follows_every_registration():
    """Kept per declared scope once asked, and forgotten when an app registers more."""
    scratch = Registry()
    scratch.register(
        scopes=[Scope("things:read", "See things")],
        permissions=[Permission("things.view_thing", "view things", scope="things:read")],
    )
    assert scratch.permissions_of_scope("things:read") == {"things.view_thing"}

    scratch.register(permissions=[Permission("things.list_thing", "list things", scope="things:read")])

    assert scratch.permissions_of_scope("things:read") == {"things.view_thing", "things.list_thing"}
    assert scratch.permissions_of_scope("undeclared:scope") == frozenset()


def test_an_object_permission_without_rules_fails_the_check(scratch_registry):
    scratch_registry.register(permissions=[Permission("orders.view_order", "view orders", model="orders.order")])
    assert error_ids(checks.check_declarations()) == ["permissions.E001"]


def test_a_permission_naming_an_undeclared_scope_fails_the_check(scratch_registry):
    scratch_registry.register(permissions=[Permission("orders.add_order", "create orders", scope="orders:everything")])
    assert error_ids(checks.check_declarations()) == ["permissions.E002"]


def test_a_role_granted_an_object_permission_it_has_no_rule_for_fails_the_check(scratch_registry):
    def customers_only(principal):
        return [Rule("customers only")] if principal.role == Role.CUSTOMER else []

    scratch_registry.register(
        permissions=[
            Permission("orders.view_order", "view orders", (Role.SUPPORT,), None, "orders.order", customers_only)
        ]
    )
    messages = checks.check_declarations()
    assert error_ids(messages) == ["permissions.E003"]
    assert "support" in messages[0].msg and "orders.view_order" in messages[0].msg


@pytest.mark.django_db
def test_the_installed_role_table_is_checked_too():
    assert checks.check_installed_roles(databases=["default"]) == []
    # support holds decide_refund, but no rule of decide_refund covers support: useless, and flagged
    from django.contrib.auth.models import Permission as DjangoPermission

    permission = DjangoPermission.objects.get(content_type__app_label="orders", codename="decide_refund")
    RolePermission.objects.create(role=Role.SUPPORT, permission=permission)
    messages = checks.check_installed_roles(databases=["default"])
    assert error_ids(messages) == ["permissions.E004"]
    assert checks.check_installed_roles(databases=None) == []  # only when database checks are asked for


def test_the_403_message_is_the_phrase_the_owning_app_declared(scratch_registry):
    scratch_registry.register(permissions=[Permission("orders.add_order", "open new orders")])
    assert enforce.denial_message("orders.add_order") == "You do not have permission to open new orders"
    assert enforce.denial_message("orders.unknown") == "You do not have permission to perform this action"


def test_the_engine_decides_with_the_registered_rules(scratch_registry):
    only_pending = Rule("pending only", (Check("status", "exact", "pending", "the order is not pending"),))
    scratch_registry.register(
        permissions=[
            Permission("orders.view_order", "view orders", model="orders.order", rules=lambda p: [only_pending])
        ]
    )
    principal = SimpleNamespace(pk=1, role="customer", region="EU", is_active=True, _role_permissions=None)
    principal._role_permissions = ("customer", frozenset({"orders.view_order"}))
    pending, paid = SimpleNamespace(status="pending"), SimpleNamespace(status="paid")
    for obj in (pending, paid):
        obj._meta = SimpleNamespace(label_lower="orders.order")
    assert policy.decide(principal, "orders.view_order", pending).allowed
    assert policy.decide(principal, "orders.view_order", paid).reason == "the order is not pending"


def test_scopes_come_from_the_apps_declarations():
    assert list(catalogue()) == ["openid", "profile", "email", "orders:read", "orders:write"]
    assert permissions_for_scopes(["orders:read"]) == {"orders.view_order", "orders.view_refundrequest"}
    assert permissions_for_scopes(["openid", "profile", "email"]) == frozenset()
    assert isinstance(catalogue()["openid"], Scope)


@pytest.mark.django_db
def test_policy_command_prints_every_rule_of_every_app():
    out = StringIO()
    call_command("policy", stdout=out)
    text = out.getvalue()
    for permission in registry.permissions():
        assert permission.name in text
    assert "managers decide refunds up to the limit in own region" in text
    assert "order__amount <= 500.00" in text
    assert "admins manage other accounts: deleted_at is null and not pk == <your id>" in text
    assert "never held by a machine client" in text


@pytest.mark.django_db
def test_the_default_grants_are_what_the_data_migrations_installed():
    installed: dict[str, set[str]] = {}
    for role, app, codename in RolePermission.objects.values_list(
        "role", "permission__content_type__app_label", "permission__codename"
    ):
        installed.setdefault(role, set()).add(f"{app}.{codename}")
    assert installed == {role: set(perms) for role, perms in registry.default_grants().items()}
    # and the rules really run: a customer sees their own order through the registered rule
    owner = customer()
    order = OrderFactory(owner=owner)
    assert owner.has_perm("orders.view_order", order)
