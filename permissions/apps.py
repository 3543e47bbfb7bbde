from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    name = "permissions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from core.rules import registry
        from permissions import checks, policy, role_table
        from permissions.models import RolePermission

        post_save.connect(role_table.on_row_changed, sender=RolePermission, dispatch_uid="role_table_saved")
        post_delete.connect(role_table.on_row_changed, sender=RolePermission, dispatch_uid="role_table_deleted")
        post_migrate.connect(role_table.on_migrate, dispatch_uid="role_table_migrated")
        registry.register(permissions=policy.PERMISSIONS)
        checks.register()
