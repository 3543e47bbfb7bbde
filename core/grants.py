"""Install and remove role grants from data migrations.

Each app grants its own permissions to roles in its own data migration, with a frozen copy
of the grants (a migration must not change when the code it came from changes later);
these two functions do the work for all of them. They write the ``permissions`` app's
``RolePermission`` rows through the migration's historical models, so calling apps import
nothing of ``permissions``; their migrations depend on ``permissions``' first one.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations


def install(apps, grants: dict[str, list[str]]) -> None:
    """Grant each role its permissions (``{"admin": ["orders.view_order", ...]}``); idempotent."""
    labels = {perm.split(".", 1)[0] for perms in grants.values() for perm in perms}
    # Django creates permissions after all migrations; create them now so grants can point at them.
    for label in sorted(labels):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    RolePermission = apps.get_model("permissions", "RolePermission")
    for role, perms in grants.items():
        for perm in perms:
            app_label, codename = perm.split(".")
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            RolePermission.objects.get_or_create(role=role, permission=permission)


def remove(apps, grants: dict[str, list[str]]) -> None:
    RolePermission = apps.get_model("permissions", "RolePermission")
    for role, perms in grants.items():
        for perm in perms:
            app_label, codename = perm.split(".")
            RolePermission.objects.filter(
                role=role, permission__content_type__app_label=app_label, permission__codename=codename
            ).delete()


def operation(grants: dict[str, list[str]]) -> migrations.RunPython:
    """The data migration's operation: install the grants, and remove them when unapplied."""
    return migrations.RunPython(
        lambda apps, schema_editor: install(apps, grants), lambda apps, schema_editor: remove(apps, grants)
    )
