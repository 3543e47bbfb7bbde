"""Install the default role -> permission mapping declared in permissions/roles.py."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of permissions.roles.DEFAULT_ROLE_PERMISSIONS at the time of this migration:
# a migration must not change when the code it came from changes later.
ROLE_PERMISSIONS = {
    "customer": [
        "orders.view_order",
        "orders.view_refundrequest",
        "orders.add_order",
        "orders.pay_order",
        "orders.cancel_order",
        "orders.request_refund",
    ],
    "support": ["orders.view_order", "orders.view_refundrequest", "orders.request_refund"],
    "manager": ["orders.view_order", "orders.view_refundrequest", "orders.decide_refund"],
    "admin": [
        "orders.view_order",
        "orders.view_refundrequest",
        "orders.decide_refund",
        "accounts.view_user",
        "accounts.change_user",
        "accounts.delete_user",
        "accounts.view_auditevent",
        "permissions.view_rolepermission",
    ],
}


def install(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so the
    # mapping can point at them.
    for label in ("accounts", "orders", "permissions"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    RolePermission = apps.get_model("permissions", "RolePermission")
    for role, perms in ROLE_PERMISSIONS.items():
        for perm in perms:
            app_label, codename = perm.split(".")
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            RolePermission.objects.get_or_create(role=role, permission=permission)


def uninstall(apps, schema_editor):
    apps.get_model("permissions", "RolePermission").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0001_initial"),
        ("accounts", "0001_initial"),
        ("orders", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
