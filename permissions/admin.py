"""Admin pages for authorization: users (role, region, activation, deletion) and the role table.

User changes go through the same services as the users API, and every object through the policy.
"""

from django.contrib import admin
from django.shortcuts import redirect

from accounts import reauth, services
from accounts.models import User
from core.admin import ReadOnlyAdmin
from permissions.admin_mixins import PolicyAdmin
from permissions.models import RolePermission


@admin.register(User)
class UserAdmin(PolicyAdmin):
    view_on_site = False  # the user's "page" is their own profile, not something an admin opens
    list_display = ["email", "name", "role", "region", "is_active", "date_joined"]
    list_filter = ["role", "region", "is_active"]
    search_fields = ["email", "name"]
    fields = ["email", "name", "role", "region", "is_active", "email_verified", "date_joined", "last_login"]
    readonly_fields = ["email", "name", "email_verified", "date_joined", "last_login"]

    def save_model(self, request, obj, form, change):
        services.user_update(
            user=obj,
            acting_user=request.user,
            request=request,
            role=obj.role,
            region=obj.region,
            is_active=obj.is_active,
        )

    def delete_model(self, request, obj):
        services.user_delete(user=obj, acting_user=request.user, request=request)

    def get_actions(self, request):
        return {}  # bulk delete would skip the scrubbing service

    # Step-up (accounts.reauth): saving a change, and the delete confirmation and deletion.
    # A stale session goes to /accounts/reauthenticate/ and comes back to the form.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not reauth.is_recent(request):
            return redirect(reauth.reauthenticate_url(request))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if not reauth.is_recent(request):
            return redirect(reauth.reauthenticate_url(request))
        return super().delete_view(request, object_id, extra_context)


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
