"""python manage.py create_user EMAIL --role ROLE [--region CODE] [--name NAME] < password"""

from __future__ import annotations

import sys

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import Region, Role, User, normalize_email


class Command(BaseCommand):
    help = "Create a user with a role. The password is read from standard input (one line)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--region", choices=Region.values, default="")
        parser.add_argument("--name", default="")

    def handle(self, *args, email: str, role: str, region: str, name: str, **options):
        email = normalize_email(email)
        if role != Role.ADMIN and not region:
            raise CommandError(f"--region is required for the {role} role (one of {', '.join(Region.values)}).")
        if User.objects.filter(email=email).exists():
            raise CommandError(f"A user with the email {email} already exists.")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError(
                "Give the password on standard input, for example: echo 'a long passphrase' | manage.py create_user ..."
            )
        try:
            password_validation.validate_password(password, User(email=email, name=name))
            user = services.user_create(email=email, password=password, role=role, region=region, name=name)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(str(user.pk))
