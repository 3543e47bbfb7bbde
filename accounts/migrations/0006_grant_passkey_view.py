"""Admins see users' passkeys (read-only) in the Django admin (accounts/policy.py)."""

from django.db import migrations

from core import grants

# Frozen copy of the ``granted_to`` of accounts/policy.py's record at the time of this migration.
GRANTS = {"admin": ["accounts.view_passkey"]}


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_passkeys"),
        ("permissions", "0001_initial"),
    ]

    operations = [grants.operation(GRANTS)]
