"""Grant the admin role the permissions about accounts and the role table.

Each app grants its own permissions in its own data migration (orders/0002, oauth/0002);
this one grants those of ``accounts``, which sits below the engine and so has no grant
migration of its own, and of ``permissions`` itself. Before the architecture change it also
granted the orders permissions: databases migrated then keep those rows, and orders/0002
finds them already there.
"""

from django.db import migrations

from core import grants

# Frozen copy of the grants declared in accounts/policy.py and permissions/policy.py.
GRANTS = {
    "admin": [
        "accounts.view_user",
        "accounts.change_user",
        "accounts.delete_user",
        "accounts.view_auditevent",
        "permissions.view_rolepermission",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0001_initial"),
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [grants.operation(GRANTS)]
