"""Admins register and edit OAuth clients in the Django admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_PERMISSIONS = [
    "oauth2_provider.view_application",
    "oauth2_provider.add_application",
    "oauth2_provider.change_application",
    "oauth2_provider.delete_application",
    "oauth.view_clientpolicy",
    "oauth.add_clientpolicy",
    "oauth.change_clientpolicy",
    "oauth.view_consent",
]


def install(apps, schema_editor):
    for label in ("oauth2_provider", "oauth"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    RolePermission = apps.get_model("permissions", "RolePermission")
    for perm in ADMIN_PERMISSIONS:
        app_label, codename = perm.split(".")
        permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
        RolePermission.objects.get_or_create(role="admin", permission=permission)


def uninstall(apps, schema_editor):
    RolePermission = apps.get_model("permissions", "RolePermission")
    for perm in ADMIN_PERMISSIONS:
        app_label, codename = perm.split(".")
        RolePermission.objects.filter(
            role="admin", permission__content_type__app_label=app_label, permission__codename=codename
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0002_default_roles"),
        ("oauth", "0001_initial"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
