"""python manage.py seed_demo [--password PW] [--totp-secret BASE32] [--force]: the contract's demo data, idempotent.

Admins need a second factor: a new admin gets an authenticator app (TOTP) whose secret is
printed once with the passwords; ``--totp-secret`` gives every admin that secret (existing
ones included).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_application_model

from accounts import factors, services as account_services
from accounts.models import Region, Role, TotpDevice, User
from oauth.registration import register_client
from orders.models import Order, RefundRequest

DEMO_ACCOUNTS = [
    ("alice@example.com", "Alice Martin", Role.CUSTOMER, Region.EU),
    ("bob@example.com", "Bob Miller", Role.CUSTOMER, Region.US),
    ("sam@example.com", "Sam Support", Role.SUPPORT, Region.EU),
    ("maria@example.com", "Maria Manager", Role.MANAGER, Region.EU),
    ("mike@example.com", "Mike Manager", Role.MANAGER, Region.US),
    ("ada@example.com", "Ada Admin", Role.ADMIN, ""),
]

REGION_MANAGERS: dict[str, str] = {Region.EU: "maria@example.com", Region.US: "mike@example.com"}

DEMO_CLIENTS = [
    {
        "name": "Demo client",
        "client_id": "demo-client",
        "client_type": "public",
        "grant": "authorization-code",
        "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "post_logout_redirect_uris": ["http://127.0.0.1:8765/"],
        "scopes": ["openid", "profile", "email", "orders:read", "orders:write"],
    },
    {
        "name": "Demo service",
        "client_id": "demo-service",
        "client_type": "confidential",
        "grant": "client-credentials",
        "scopes": ["orders:read"],
        "role": "support",
        "region": "EU",
    },
]

# (amount, status, refund request pending?) for each demo customer: every status, four paid
# orders of at most 500.00 and two above it, two of them waiting for a refund decision.
DEMO_ORDERS = [
    ("25.00", Order.Status.PENDING, False),
    ("89.90", Order.Status.PENDING, False),
    ("49.90", Order.Status.PAID, False),
    ("120.00", Order.Status.PAID, True),
    ("310.50", Order.Status.PAID, False),
    ("480.00", Order.Status.PAID, False),
    ("750.00", Order.Status.PAID, True),
    ("1200.00", Order.Status.PAID, False),
    ("15.00", Order.Status.CANCELLED, False),
    ("60.00", Order.Status.REFUNDED, False),
]


class Command(BaseCommand):
    help = "Create the demo accounts and orders (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Give every demo account this password (existing ones are reset).")
        parser.add_argument("--totp-secret", help="Give every demo admin an authenticator app with this base32 secret.")
        parser.add_argument("--force", action="store_true", help="Run outside the local profile.")

    def handle(self, *args, password: str | None, force: bool, totp_secret: str | None = None, **options):
        if settings.ENV != "local" and not force:
            raise CommandError(
                "seed_demo creates accounts with known passwords; "
                f"refusing in the {settings.ENV} profile without --force."
            )
        if password is not None:
            self._validate(password)
        if totp_secret is not None:
            totp_secret = self._valid_totp_secret(totp_secret)
        with transaction.atomic():
            lines = [self._account(email, name, role, region, password) for email, name, role, region in DEMO_ACCOUNTS]
            admins = [email for email, _name, role, _region in DEMO_ACCOUNTS if role == Role.ADMIN]
            lines += [self._totp(email, totp_secret) for email in admins]
            for email in ("alice@example.com", "bob@example.com"):
                self._orders(User.objects.get(email=email))
            clients = [self._client(spec) for spec in DEMO_CLIENTS]
        self.stdout.write("Demo accounts:")
        for line in lines:
            self.stdout.write(f"  {line}")
        self.stdout.write("OAuth clients:")
        for line in clients:
            self.stdout.write(f"  {line}")

    def _validate(self, password: str) -> None:
        for email, name, _role, _region in DEMO_ACCOUNTS:
            try:
                password_validation.validate_password(password, User(email=email, name=name))
            except ValidationError as error:
                raise CommandError(f"--password is refused: {' '.join(error.messages)}") from None

    def _account(self, email: str, name: str, role: str, region: str, password: str | None) -> str:
        user = User.objects.filter(email=email).first()
        label = f"{email:<20} {role:<9} {region or '-':<3}"
        if user is None:
            new_password = password or secrets.token_urlsafe(12)
            account_services.user_create(email=email, password=new_password, role=role, region=region, name=name)
            return f"{label} password: {new_password}" if password is None else f"{label} (password as given)"
        if (user.role, user.region) != (role, region):
            # The demo table is the contract: put a changed role or region back.
            user.role, user.region = role, region
            user.save(update_fields=["role", "region"])
        if password is not None:
            user.set_password(password)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
            account_services.revoke_credentials(user)
            return f"{label} (password reset as given)"
        return f"{label} (exists; password unchanged - use --password to reset)"

    @staticmethod
    def _valid_totp_secret(secret: str) -> str:
        secret = "".join(secret.split()).upper()
        try:
            raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
        except (binascii.Error, ValueError):
            raise CommandError("--totp-secret must be base32 (A-Z, 2-7).") from None
        if len(raw) < 10:
            raise CommandError("--totp-secret must carry at least 80 bits (16 base32 characters).")
        return secret

    def _totp(self, email: str, secret: str | None) -> str:
        """Enrol an admin in TOTP: a new random secret printed once, or the one given."""
        user = User.objects.get(email=email)
        label = f"{email:<20} authenticator app (TOTP)"
        if secret is None and TotpDevice.objects.filter(user=user).exists():
            return f"{label}: enrolled (secret unchanged - use --totp-secret to set it)"
        shown = secret or factors.new_totp_secret()
        TotpDevice.objects.filter(user=user).delete()
        TotpDevice.objects.create(user=user, encrypted_secret=factors.encrypt_secret(shown))
        return f"{label}: secret as given" if secret else f"{label} secret: {shown}  (shown once)"

    def _orders(self, owner: User) -> None:
        if Order.objects.filter(owner=owner).exists():
            return
        currency = "EUR" if owner.region == Region.EU else "USD"
        now = timezone.now()
        for index, (amount, status, has_pending_refund) in enumerate(DEMO_ORDERS):
            order = Order.objects.create(
                owner=owner,
                region=owner.region,
                amount=Decimal(amount),
                currency=currency,
                status=status,
                created_at=now - timedelta(hours=index),
            )
            if has_pending_refund:
                RefundRequest.objects.create(order=order, requested_by=owner, reason="The item arrived damaged.")
            if status == Order.Status.REFUNDED:
                RefundRequest.objects.create(
                    order=order,
                    requested_by=owner,
                    reason="Ordered twice by mistake.",
                    status=RefundRequest.Status.APPROVED,
                    decided_by=User.objects.get(email=REGION_MANAGERS[owner.region]),
                    decided_at=now,
                )

    def _client(self, spec: dict) -> str:
        if get_application_model().objects.filter(client_id=spec["client_id"]).exists():
            return f"{spec['client_id']:<13} (exists)"
        registered = register_client(**spec)
        if registered.client_secret:
            return f"{spec['client_id']:<13} secret: {registered.client_secret}  (shown once)"
        return f"{spec['client_id']:<13} public client, redirect URI {spec['redirect_uris'][0]}"
