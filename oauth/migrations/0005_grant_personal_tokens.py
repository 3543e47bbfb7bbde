"""Admins see and revoke everyone's personal access tokens in the Django admin (oauth/policy.py)."""

from django.db import migrations

from core import grants

# Frozen copy of the ``granted_to`` of oauth/policy.py's personal token records at the time of this migration.
GRANTS = {
    "admin": [
        "oauth.view_personaltoken",
        "oauth.change_personaltoken",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("oauth", "0004_personal_token"),
        ("permissions", "0001_initial"),
    ]

    operations = [grants.operation(GRANTS)]
