from django.contrib import admin

from permissions.admin_mixins import ReadOnlyAdmin
from permissions.models import RolePermission


@admin.register(RolePermission)
class RolePermissionAdmin(ReadOnlyAdmin):
    """The role x permission matrix, read-only: it changes only through migrations."""

    list_display = ["role", "permission_name", "permission_label"]
    list_filter = ["role"]
    list_select_related = ["permission__content_type"]

    @admin.display(description="Permission")
    def permission_name(self, obj: RolePermission) -> str:
        return f"{obj.permission.content_type.app_label}.{obj.permission.codename}"

    @admin.display(description="Meaning")
    def permission_label(self, obj: RolePermission) -> str:
        return obj.permission.name
