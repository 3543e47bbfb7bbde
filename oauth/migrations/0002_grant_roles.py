"""Admins register and edit OAuth clients in the Django admin (oauth/policy.py)."""

from django.db import migrations

from core import grants

# Frozen copy of the ``granted_to`` of oauth/policy.py's records at the time of this migration.
GRANTS = {
    "admin": [
        "oauth2_provider.view_application",
        "oauth2_provider.add_application",
        "oauth2_provider.change_application",
        "oauth2_provider.delete_application",
        "oauth.view_clientpolicy",
        "oauth.add_clientpolicy",
        "oauth.change_clientpolicy",
        "oauth.view_consent",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("oauth", "0001_initial"),
        ("permissions", "0001_initial"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [grants.operation(GRANTS)]
