"""Factories for users with a role, orders and refund requests."""

from __future__ import annotations

import time
from decimal import Decimal

import factory
import pyotp

from accounts.factors import encrypt_secret
from accounts.models import Passkey, Region, Role, TotpDevice, User
from orders.models import Order, RefundRequest
from tests.support.authenticator import SoftAuthenticator

PASSWORD = "a long test passphrase 42"
# Every factory admin has an authenticator app with this secret (the admin role needs a second factor).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


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

    @factory.post_generation
    def totp(obj, create, extracted, **kwargs):
        """Admins get an authenticator app (``TOTP_SECRET``) unless ``totp=False`` is passed."""
        if create and (extracted if extracted is not None else obj.role == Role.ADMIN):
            enrol_totp(obj)


def customer(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.CUSTOMER, region=region, **kwargs)


def support(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.SUPPORT, region=region, **kwargs)


def manager(region: str = Region.EU, **kwargs) -> User:
    return UserFactory(role=Role.MANAGER, region=region, **kwargs)


def admin(**kwargs) -> User:
    """An admin, with an authenticator app (``TOTP_SECRET``) unless ``totp=False``."""
    return UserFactory(role=Role.ADMIN, region="", **kwargs)


def enrol_totp(user: User, secret: str = TOTP_SECRET) -> User:
    TotpDevice.objects.create(user=user, encrypted_secret=encrypt_secret(secret))
    return user


def totp_code(secret: str = TOTP_SECRET, *, steps: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps`` periods away)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def fresh_totp_code(user: User, secret: str = TOTP_SECRET) -> str:
    """A code the server will accept for this user now.

    Tests sign the same admin in several times within one 30-s step, and a code is
    accepted once; forgetting the last used step stands in for waiting for the next one.
    """
    TotpDevice.objects.filter(user=user).update(last_used_step=-1)
    return totp_code(secret)


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


# Passkeys need a host name as relying-party id: tests that use them set PUBLIC_ORIGIN to this.
PASSKEY_ORIGIN = "http://localhost:8000"
PASSKEY_RP_ID = "localhost"


def soft_authenticator(**kwargs) -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=PASSKEY_RP_ID, origin=PASSKEY_ORIGIN, **kwargs)


def enrol_passkey(user: User, authenticator: SoftAuthenticator | None = None, *, name: str = "Test key") -> Passkey:
    """Store a soft authenticator's credential for the user, as a finished registration would.

    The authenticator is on the returned row as ``passkey.authenticator`` to sign with.
    """
    authenticator = authenticator or soft_authenticator()
    authenticator.user_handle = user.pk.bytes
    passkey = Passkey.objects.create(
        user=user,
        credential_id=authenticator.credential_id,
        public_key=authenticator.public_key_cose,
        sign_count=authenticator.sign_count,
        backup_eligible=authenticator.backup_eligible,
        backup_state=authenticator.backup_state,
        name=name,
    )
    passkey.authenticator = authenticator  # type: ignore[attr-defined]
    return passkey
