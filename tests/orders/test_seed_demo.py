"""``manage.py seed_demo``: the contract's demo accounts and orders, idempotent, local only."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from oauth2_provider.models import get_application_model

from accounts import factors
from accounts.models import TotpDevice, User, UserSession
from orders.models import Order, RefundRequest
from tests.factories import TOTP_SECRET
from tests.support.clients import api_login

pytestmark = pytest.mark.django_db

DEMO = {
    "alice@example.com": ("customer", "EU"),
    "bob@example.com": ("customer", "US"),
    "sam@example.com": ("support", "EU"),
    "maria@example.com": ("manager", "EU"),
    "mike@example.com": ("manager", "US"),
    "ada@example.com": ("admin", ""),
}
DEMO_PASSWORD = "a demo passphrase for everyone 7"


def seed(*args: str, **options) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def local(settings):
    settings.ENV = "local"
    return settings


def counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Order.objects.count(),
        RefundRequest.objects.count(),
        get_application_model().objects.count(),
    )


def test_creates_the_demo_accounts_with_their_roles_and_regions(local):
    output = seed()
    accounts = {u.email: (u.role, u.region) for u in User.objects.all()}
    assert accounts == DEMO
    assert all(u.is_active and not u.is_superuser for u in User.objects.all())
    # Without --password each new account gets a random password, printed once.
    for email in DEMO:
        line = next(line for line in output.splitlines() if email in line)
        assert "password: " in line
    assert User.objects.get(email="alice@example.com").check_password(printed_password(output, "alice@example.com"))
    passwords = {line.split("password: ")[1].strip() for line in output.splitlines() if "password: " in line}
    assert len(passwords) == len(DEMO), "every account gets its own random password"


@pytest.mark.parametrize(
    "email,currency,region", [("alice@example.com", "EUR", "EU"), ("bob@example.com", "USD", "US")]
)
def test_demo_customers_own_orders_in_every_status(local, email, currency, region):
    seed()
    orders = Order.objects.filter(owner__email=email)
    assert set(orders.values_list("status", flat=True)) == set(Order.Status.values)
    assert set(orders.values_list("currency", flat=True)) == {currency}
    assert set(orders.values_list("region", flat=True)) == {region}
    paid = orders.filter(status=Order.Status.PAID)
    assert paid.filter(amount__lte=Decimal("500.00")).count() >= 4
    assert paid.filter(amount__gt=Decimal("500.00")).count() >= 2


def test_only_the_customers_own_orders(local):
    seed()
    assert set(Order.objects.values_list("owner__email", flat=True)) == {"alice@example.com", "bob@example.com"}


def test_demo_oauth_clients(local):
    seed()
    application = get_application_model()
    web = application.objects.get(client_id="demo-client")
    assert web.client_type == application.CLIENT_PUBLIC
    assert web.authorization_grant_type == application.GRANT_AUTHORIZATION_CODE
    assert "http://127.0.0.1:8765/callback" in web.redirect_uris.split()
    service = application.objects.get(client_id="demo-service")
    assert service.client_type == application.CLIENT_CONFIDENTIAL
    assert service.authorization_grant_type == application.GRANT_CLIENT_CREDENTIALS


def test_is_idempotent(local):
    seed()
    first = counts()
    alice = User.objects.get(email="alice@example.com")
    output = seed()
    assert counts() == first
    assert User.objects.get(email="alice@example.com").password == alice.password, "passwords stay without --password"
    assert "password: " not in output


def printed_password(output: str, email: str) -> str:
    return next(line for line in output.splitlines() if email in line).split("password: ")[1].strip()


def test_password_option_resets_every_demo_account(local):
    output = seed()
    alice = User.objects.get(email="alice@example.com")
    client = api_login(Client(), alice, password=printed_password(output, "alice@example.com"))
    assert client.get("/api/me/").status_code == 200

    seed("--password", DEMO_PASSWORD, "--totp-secret", TOTP_SECRET)  # ada's second step: the test's secret

    for email in DEMO:
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD), email
    assert not UserSession.objects.filter(user=alice).exists(), "a password reset ends the account's sessions"
    assert client.get("/api/me/").status_code == 401
    ada = api_login(Client(), User.objects.get(email="ada@example.com"), password=DEMO_PASSWORD)
    assert ada.get("/api/me/").json()["role"] == "admin"


def test_password_option_reactivates_a_deactivated_demo_account(local):
    seed()
    User.objects.filter(email="sam@example.com").update(is_active=False)
    seed("--password", DEMO_PASSWORD)
    assert User.objects.get(email="sam@example.com").is_active


def test_password_option_on_a_fresh_database(local):
    output = seed("--password", DEMO_PASSWORD)
    assert DEMO_PASSWORD not in output, "a given password is not echoed"
    for email in DEMO:
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD)


def test_a_weak_password_is_refused_before_anything_is_written(local):
    with pytest.raises(CommandError):
        seed("--password", "short")
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("profile", ["test", "production"])
def test_refuses_outside_the_local_profile_without_force(settings, profile):
    settings.ENV = profile
    with pytest.raises(CommandError, match="--force"):
        seed()
    assert counts() == (0, 0, 0, 0)
    seed("--force", "--password", DEMO_PASSWORD)
    assert User.objects.count() == len(DEMO)


def test_demo_data_meets_the_policy(local):
    """Maria may decide Alice's small pending request but not the large one; Mike sees neither."""
    seed("--password", DEMO_PASSWORD)
    maria = User.objects.get(email="maria@example.com")
    mike = User.objects.get(email="mike@example.com")
    pending = RefundRequest.objects.filter(order__owner__email="alice@example.com", status="pending").select_related(
        "order"
    )
    small = [r for r in pending if r.order.amount <= Decimal("500.00")]
    large = [r for r in pending if r.order.amount > Decimal("500.00")]
    assert small and large
    assert all(maria.has_perm("orders.decide_refund", r) for r in small)
    assert not any(maria.has_perm("orders.decide_refund", r) for r in large)
    assert not any(mike.has_perm("orders.view_refundrequest", r) for r in pending)


def test_seeding_again_puts_back_a_changed_demo_role_and_region(local):
    seed()
    User.objects.filter(email="sam@example.com").update(role="admin", region="US")
    seed()
    sam = User.objects.get(email="sam@example.com")
    assert (sam.role, sam.region) == ("support", "EU")


def test_refunded_demo_orders_carry_the_approved_request_that_refunded_them(local):
    seed()
    for owner, manager in (("alice@example.com", "maria@example.com"), ("bob@example.com", "mike@example.com")):
        refunded = Order.objects.get(owner__email=owner, status="refunded")
        approved = RefundRequest.objects.get(order=refunded, status="approved")
        assert approved.decided_by.email == manager
        assert approved.decided_at is not None


def test_ada_is_enrolled_in_totp_and_her_secret_is_printed_once(local):
    output = seed()
    line = next(line for line in output.splitlines() if "TOTP" in line)
    secret = line.split("secret: ")[1].split()[0]
    ada = User.objects.get(email="ada@example.com")
    assert factors.verify_totp(ada, pyotp.TOTP(secret).now())
    again = seed()
    assert secret not in again and "enrolled (secret unchanged" in again


def test_totp_secret_gives_every_admin_that_secret(local):
    seed("--password", DEMO_PASSWORD, "--totp-secret", TOTP_SECRET)
    client = Client()
    api_login(client, User.objects.get(email="ada@example.com"), DEMO_PASSWORD)
    assert client.get("/api/me/").json()["role"] == "admin"
    assert TotpDevice.objects.filter(user__role="admin").count() == 1


def test_a_malformed_totp_secret_is_refused(local):
    with pytest.raises(CommandError, match="base32"):
        seed("--totp-secret", "not-base32!")
