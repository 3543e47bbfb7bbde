"""Admins see users' passkeys (read-only) in the Django admin (accounts/policy.py).

Here, not in accounts' migrations: accounts is a layer below permissions, and grants of
accounts' permissions live with the role table (as 0002 grants ``accounts.view_auditevent``).
"""

from django.db import migrations

from core import grants

# Frozen copy of the ``granted_to`` of accounts/policy.py's record at the time of this migration.
GRANTS = {"admin": ["accounts.view_passkey"]}


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0003_admin_manages_oauth_clients"),
        ("accounts", "0006_passkeys"),
    ]

    operations = [grants.operation(GRANTS)]
