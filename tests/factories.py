"""Factories for users with a role, orders and refund requests."""

from __future__ import annotations

from decimal import Decimal

import factory

from accounts.models import Region, Role, User
from orders.models import Order, RefundRequest

PASSWORD = "a long test passphrase 42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = Role.CUSTOMER
    region = Region.EU
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def customer(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.CUSTOMER, region=region, **kwargs)


def support(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.SUPPORT, region=region, **kwargs)


def manager(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.MANAGER, region=region, **kwargs)


def admin(**kwargs) -> User:
    return UserFactory(role=Role.ADMIN, region="", **kwargs)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    owner = factory.SubFactory(UserFactory)
    region = factory.LazyAttribute(lambda order: order.owner.region or Region.EU)
    amount = Decimal("100.00")
    currency = factory.LazyAttribute(lambda order: "EUR" if order.region == Region.EU else "USD")
    status = Order.Status.PENDING


class RefundRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RefundRequest

    order = factory.SubFactory(OrderFactory, status=Order.Status.PAID)
    requested_by = factory.LazyAttribute(lambda refund: refund.order.owner)
    reason = "Damaged on arrival"
    status = RefundRequest.Status.PENDING
