"""The policy, asked the way views, templates and the admin ask it: ``user.has_perm(perm, obj)``.

No HTTP here. Each test pins one rule of the contract ("Roles and the policy") so that
removing the rule from the owning app's ``policy.py`` fails it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Region, Role, User
from core.rules import registry
from orders.models import Order, RefundRequest
from permissions import policy
from tests.factories import OrderFactory, RefundRequestFactory, admin, customer, manager, support

pytestmark = pytest.mark.django_db

EU, US = Region.EU, Region.US
PENDING, PAID, CANCELLED, REFUNDED = (
    Order.Status.PENDING,
    Order.Status.PAID,
    Order.Status.CANCELLED,
    Order.Status.REFUNDED,
)
ALL_ORDER_STATUSES = [PENDING, PAID, CANCELLED, REFUNDED]


def fresh(user: User) -> User:
    """The user as the next request would load it (no cached permissions)."""
    return User.objects.get(pk=user.pk)


def paid_request(
    *, amount: str = "100.00", region: str = EU, owner: User | None = None, requested_by: User | None = None, **kwargs
):
    owner = owner or customer(region)
    order = OrderFactory(owner=owner, region=region, amount=Decimal(amount), status=PAID)
    return RefundRequestFactory(order=order, requested_by=requested_by or owner, **kwargs)


# --- Ownership (customers) ---------------------------------------------------


class TestCustomerOwnership:
    def test_customer_sees_own_order_only(self):
        alice, carol = customer(EU), customer(EU)
        own, others = OrderFactory(owner=alice), OrderFactory(owner=carol)
        assert alice.has_perm("orders.view_order", own)
        assert not alice.has_perm("orders.view_order", others)

    def test_same_region_does_not_give_a_customer_another_customers_order(self):
        alice, carol = customer(EU), customer(EU)
        order = OrderFactory(owner=carol, region=EU)
        for perm in ("orders.view_order", "orders.pay_order", "orders.cancel_order"):
            assert not alice.has_perm(perm, order), perm

    def test_customer_pays_and_cancels_own_pending_order(self):
        alice = customer(EU)
        order = OrderFactory(owner=alice, status=PENDING)
        assert alice.has_perm("orders.pay_order", order)
        assert alice.has_perm("orders.cancel_order", order)

    def test_customer_may_not_pay_or_cancel_another_customers_pending_order(self):
        alice = customer(EU)
        order = OrderFactory(owner=customer(EU), status=PENDING)
        assert not alice.has_perm("orders.pay_order", order)
        assert not alice.has_perm("orders.cancel_order", order)

    def test_customer_requests_refund_of_own_paid_order_only(self):
        alice = customer(EU)
        own = OrderFactory(owner=alice, status=PAID)
        others = OrderFactory(owner=customer(EU), status=PAID)
        assert alice.has_perm("orders.request_refund", own)
        assert not alice.has_perm("orders.request_refund", others)

    def test_customer_sees_refund_requests_of_own_orders_only(self):
        alice = customer(EU)
        own = paid_request(owner=alice)
        others = paid_request(owner=customer(EU))
        assert alice.has_perm("orders.view_refundrequest", own)
        assert not alice.has_perm("orders.view_refundrequest", others)

    def test_customer_may_create_orders_and_nobody_else(self):
        assert customer(EU).has_perm("orders.add_order")
        for user in (support(EU), manager(EU), admin()):
            assert not user.has_perm("orders.add_order"), user.role


# --- Region (support, manager) -------------------------------------------------


class TestRegion:
    @pytest.mark.parametrize("make", [support, manager], ids=["support", "manager"])
    def test_staff_sees_orders_of_own_region_only(self, make):
        staff = make(EU)
        eu_order = OrderFactory(owner=customer(EU), region=EU)
        us_order = OrderFactory(owner=customer(US), region=US)
        assert staff.has_perm("orders.view_order", eu_order)
        assert not staff.has_perm("orders.view_order", us_order)

    @pytest.mark.parametrize("make", [support, manager], ids=["support", "manager"])
    def test_staff_sees_refund_requests_of_own_region_only(self, make):
        staff = make(US)
        assert staff.has_perm("orders.view_refundrequest", paid_request(region=US))
        assert not staff.has_perm("orders.view_refundrequest", paid_request(region=EU))

    def test_region_is_the_orders_not_the_owners(self):
        """An order's own region decides, even if its owner has since moved."""
        sam = support(EU)
        mover = customer(US)
        order = OrderFactory(owner=mover, region=EU)
        assert sam.has_perm("orders.view_order", order)
        assert not support(US).has_perm("orders.view_order", order)

    def test_support_requests_refund_in_own_region_only(self):
        sam = support(EU)
        assert sam.has_perm("orders.request_refund", OrderFactory(owner=customer(EU), status=PAID))
        assert not sam.has_perm("orders.request_refund", OrderFactory(owner=customer(US), region=US, status=PAID))

    def test_manager_decides_in_own_region_only(self):
        maria = manager(EU)
        assert maria.has_perm("orders.decide_refund", paid_request(region=EU))
        assert not maria.has_perm("orders.decide_refund", paid_request(region=US))

    def test_admin_sees_and_decides_in_every_region(self):
        ada = admin()
        for region in (EU, US):
            refund = paid_request(region=region, amount="9999.00")
            assert ada.has_perm("orders.view_order", refund.order)
            assert ada.has_perm("orders.view_refundrequest", refund)
            assert ada.has_perm("orders.decide_refund", refund)

    def test_staff_may_not_pay_or_cancel_even_in_own_region(self):
        order = OrderFactory(owner=customer(EU), status=PENDING)
        for user in (support(EU), manager(EU), admin()):
            assert not user.has_perm("orders.pay_order", order), user.role
            assert not user.has_perm("orders.cancel_order", order), user.role

    def test_managers_and_admins_do_not_request_refunds(self):
        order = OrderFactory(owner=customer(EU), status=PAID)
        assert not manager(EU).has_perm("orders.request_refund", order)
        assert not admin().has_perm("orders.request_refund", order)

    def test_customers_and_support_do_not_decide(self):
        refund = paid_request(region=EU)
        assert not refund.order.owner.has_perm("orders.decide_refund", refund)
        assert not support(EU).has_perm("orders.decide_refund", refund)


# --- Amount (manager <= 500.00 in the order's currency) --------------------------


class TestManagerAmountLimit:
    @pytest.mark.parametrize("currency,region", [("EUR", EU), ("USD", US)])
    def test_limit_is_inclusive_in_either_currency(self, currency, region):
        boss = manager(region)
        at_limit = paid_request(amount="500.00", region=region)
        above = paid_request(amount="500.01", region=region)
        assert at_limit.order.currency == above.order.currency == currency
        assert boss.has_perm("orders.decide_refund", at_limit)
        assert not boss.has_perm("orders.decide_refund", above)

    def test_limit_is_the_same_number_whatever_the_currency(self):
        """500.00 in the order's own currency: a USD order in the EU region is judged in USD."""
        maria = manager(EU)
        order = OrderFactory(owner=customer(EU), region=EU, currency="USD", amount=Decimal("500.00"), status=PAID)
        assert maria.has_perm("orders.decide_refund", RefundRequestFactory(order=order))

    def test_manager_still_sees_orders_above_the_limit(self):
        maria = manager(EU)
        refund = paid_request(amount="750.00", region=EU)
        assert maria.has_perm("orders.view_order", refund.order)
        assert maria.has_perm("orders.view_refundrequest", refund)
        assert not maria.has_perm("orders.decide_refund", refund)

    def test_admin_has_no_limit(self):
        assert admin().has_perm("orders.decide_refund", paid_request(amount="1000000.00"))

    def test_decide_explains_the_amount(self):
        decision = policy.decide(manager(EU), "orders.decide_refund", paid_request(amount="500.01"))
        assert not decision.allowed
        assert "500.00" in decision.reason and "limit" in decision.reason


# --- State ---------------------------------------------------------------------


class TestState:
    @pytest.mark.parametrize("status", ALL_ORDER_STATUSES)
    def test_pay_and_cancel_only_pending(self, status):
        alice = customer(EU)
        order = OrderFactory(owner=alice, status=status)
        expected = status == PENDING
        assert alice.has_perm("orders.pay_order", order) is expected
        assert alice.has_perm("orders.cancel_order", order) is expected

    @pytest.mark.parametrize("status", ALL_ORDER_STATUSES)
    def test_refund_only_of_paid_orders(self, status):
        alice, sam = customer(EU), support(EU)
        order = OrderFactory(owner=alice, status=status)
        expected = status == PAID
        assert alice.has_perm("orders.request_refund", order) is expected
        assert sam.has_perm("orders.request_refund", order) is expected

    def test_no_second_refund_request_while_one_is_pending(self):
        alice, sam = customer(EU), support(EU)
        refund = paid_request(owner=alice)
        order = Order.objects.get(pk=refund.order_id)
        assert not alice.has_perm("orders.request_refund", order)
        assert not sam.has_perm("orders.request_refund", order)
        decision = policy.decide(alice, "orders.request_refund", order)
        assert decision.reason == "a refund request for the order is already pending"

    def test_a_rejected_request_does_not_block_a_new_one(self):
        alice = customer(EU)
        order = OrderFactory(owner=alice, status=PAID)
        RefundRequestFactory(order=order, status=RefundRequest.Status.REJECTED, decided_at=timezone.now())
        assert alice.has_perm("orders.request_refund", Order.objects.get(pk=order.pk))

    @pytest.mark.parametrize("status", list(RefundRequest.Status))
    def test_decide_only_pending_requests(self, status):
        decided_at = None if status == RefundRequest.Status.PENDING else timezone.now()
        refund = paid_request(status=status, decided_at=decided_at)
        expected = status == RefundRequest.Status.PENDING
        assert manager(EU).has_perm("orders.decide_refund", refund) is expected
        assert admin().has_perm("orders.decide_refund", refund) is expected

    def test_decided_requests_stay_visible(self):
        refund = paid_request(status=RefundRequest.Status.REJECTED, decided_at=timezone.now())
        assert manager(EU).has_perm("orders.view_refundrequest", refund)


# --- Separation of duties --------------------------------------------------------


class TestSeparationOfDuties:
    def test_manager_may_not_decide_a_request_they_made(self):
        maria = manager(EU)
        refund = paid_request(requested_by=maria)
        assert not maria.has_perm("orders.decide_refund", refund)
        assert policy.decide(maria, "orders.decide_refund", refund).reason == "you made this refund request"
        assert manager(EU).has_perm("orders.decide_refund", refund), "another manager may"

    def test_manager_may_not_decide_a_request_for_an_order_they_own(self):
        maria = manager(EU)
        refund = paid_request(owner=maria, requested_by=support(EU))
        assert not maria.has_perm("orders.decide_refund", refund)
        assert policy.decide(maria, "orders.decide_refund", refund).reason == "you own the order"
        assert manager(EU).has_perm("orders.decide_refund", refund), "another manager may"

    def test_admin_who_owns_the_order_may_not_decide(self):
        ada = admin()
        refund = paid_request(owner=ada, requested_by=support(EU))
        assert not ada.has_perm("orders.decide_refund", refund)
        assert admin().has_perm("orders.decide_refund", refund), "another admin may"

    def test_admin_who_made_the_request_may_not_decide(self):
        ada = admin()
        refund = paid_request(requested_by=ada)
        assert not ada.has_perm("orders.decide_refund", refund)
        assert policy.decide(ada, "orders.decide_refund", refund).reason == "you made this refund request"

    def test_a_request_made_by_a_machine_client_can_be_decided(self):
        refund = paid_request()
        RefundRequest.objects.filter(pk=refund.pk).update(requested_by=None, requested_by_client="demo-service")
        refund = RefundRequest.objects.select_related("order").get(pk=refund.pk)
        assert manager(EU).has_perm("orders.decide_refund", refund)


# --- Inactive and deleted accounts -------------------------------------------------


class TestInactiveAndDeleted:
    @pytest.mark.parametrize("make", [lambda: customer(EU), lambda: support(EU), lambda: manager(EU), admin])
    def test_inactive_users_may_do_nothing(self, make):
        user = make()
        own = OrderFactory(owner=user if user.role == Role.CUSTOMER else customer(EU), status=PAID)
        refund = paid_request()
        other = customer(EU)
        cases = {
            "orders.view_order": own,
            "orders.view_refundrequest": refund,
            "orders.request_refund": own,
            "orders.decide_refund": refund,
            "accounts.view_user": other,
            "accounts.delete_user": other,
        }
        allowed_before = [perm for perm, obj in cases.items() if user.has_perm(perm, obj)]
        assert allowed_before, "the active user must be allowed something for this test to mean anything"
        User.objects.filter(pk=user.pk).update(is_active=False)
        user = fresh(user)
        for permission in registry.object_permissions():
            assert not user.has_perm(permission.name), permission.name
        for perm in allowed_before:
            assert not user.has_perm(perm, cases[perm]), perm
        assert user.get_all_permissions() == set()
        assert policy.decide(user, "orders.view_order", own).reason == "the account is not active"
        assert not policy.restrict(Order.objects.all(), user, "orders.view_order").exists()

    def test_admin_may_view_self_but_not_change_or_delete_self(self):
        ada = admin()
        assert ada.has_perm("accounts.view_user", ada)
        assert not ada.has_perm("accounts.change_user", ada)
        assert not ada.has_perm("accounts.delete_user", ada)
        reason = policy.decide(ada, "accounts.change_user", ada).reason
        assert reason == "admins cannot change or delete their own account here"

    def test_admin_may_change_and_delete_other_accounts_including_admins(self):
        ada = admin()
        for other in (customer(EU), manager(US), admin()):
            assert ada.has_perm("accounts.change_user", other)
            assert ada.has_perm("accounts.delete_user", other)

    def test_only_admins_manage_users(self):
        target = customer(EU)
        for user in (customer(EU), support(EU), manager(EU)):
            for perm in ("accounts.view_user", "accounts.change_user", "accounts.delete_user"):
                assert not user.has_perm(perm, target), (user.role, perm)
                assert not user.has_perm(perm), (user.role, perm)

    def test_deleted_users_are_invisible(self):
        ada = admin()
        gone = customer(EU)
        assert ada.has_perm("accounts.view_user", gone)
        User.objects.filter(pk=gone.pk).update(deleted_at=timezone.now(), is_active=False)
        gone = fresh(gone)
        for perm in ("accounts.view_user", "accounts.change_user", "accounts.delete_user"):
            assert not ada.has_perm(perm, gone), perm
        assert policy.decide(ada, "accounts.view_user", gone).reason == "the account was deleted"
        assert not policy.restrict(User.objects.all(), ada, "accounts.view_user").filter(pk=gone.pk).exists()


# --- Odds and ends of has_perm ---------------------------------------------------------


def test_a_permission_does_not_apply_to_another_model():
    alice = customer(EU)
    order = OrderFactory(owner=alice)
    refund = paid_request(owner=alice)
    assert not alice.has_perm("orders.view_order", refund)
    assert not alice.has_perm("orders.view_refundrequest", order)
    assert not admin().has_perm("accounts.view_user", order)


def test_no_account_is_a_superuser():
    ada = admin()
    assert ada.is_superuser is False
    refund = paid_request(requested_by=ada)
    assert not ada.has_perm("orders.decide_refund", refund)


def test_model_level_answer_follows_the_role():
    alice, sam, maria, ada = customer(EU), support(EU), manager(EU), admin()
    assert alice.has_perm("orders.pay_order") and not sam.has_perm("orders.pay_order")
    assert sam.has_perm("orders.request_refund") and not maria.has_perm("orders.request_refund")
    assert maria.has_perm("orders.decide_refund") and not alice.has_perm("orders.decide_refund")
    assert ada.has_perm("accounts.delete_user") and not maria.has_perm("accounts.delete_user")


# --- decide(): every answer says why ------------------------------------------------------


class TestDecisionReasons:
    def test_allowed_names_the_role_and_the_rule(self):
        alice = customer(EU)
        decision = policy.decide(alice, "orders.view_order", OrderFactory(owner=alice))
        assert decision.allowed and bool(decision) is True
        assert decision.reason == "role customer: customers see their own orders"

    def test_allowed_without_object_names_the_role(self):
        decision = policy.decide(customer(EU), "orders.add_order")
        assert decision.allowed
        assert decision.reason == "role customer holds orders.add_order"

    def test_missing_role_permission(self):
        decision = policy.decide(support(EU), "orders.pay_order", OrderFactory())
        assert not decision.allowed and bool(decision) is False
        assert decision.reason == "role support does not hold orders.pay_order"

    @pytest.mark.parametrize(
        "who,perm,build,reason",
        [
            (
                "customer",
                "orders.view_order",
                lambda u: OrderFactory(owner=customer(EU)),
                "the order belongs to someone else",
            ),
            (
                "support",
                "orders.view_order",
                lambda u: OrderFactory(owner=customer(US), region=US),
                "the order is outside your region",
            ),
            ("customer", "orders.pay_order", lambda u: OrderFactory(owner=u, status=PAID), "the order is not pending"),
            (
                "customer",
                "orders.cancel_order",
                lambda u: OrderFactory(owner=u, status=CANCELLED),
                "the order is not pending",
            ),
            (
                "customer",
                "orders.request_refund",
                lambda u: OrderFactory(owner=u, status=PENDING),
                "the order is not paid",
            ),
            (
                "manager",
                "orders.decide_refund",
                lambda u: paid_request(status=RefundRequest.Status.APPROVED, decided_at=timezone.now()),
                "the refund request is not pending",
            ),
        ],
    )
    def test_refusal_names_the_failing_check(self, who, perm, build, reason):
        user = {"customer": customer, "support": support, "manager": manager}[who](EU)
        decision = policy.decide(user, perm, build(user))
        assert not decision.allowed
        assert decision.reason == reason

    def test_wrong_model_is_explained(self):
        decision = policy.decide(customer(EU), "orders.view_order", customer(EU))
        assert not decision.allowed
        assert decision.reason == "orders.view_order does not apply to accounts.user"
