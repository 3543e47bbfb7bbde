"""Admin pages for accounts. Role and activation changes go through the same services as the API."""

from django.contrib import admin
from django.shortcuts import redirect

from accounts import services
from accounts.models import AuditEvent, User
from permissions.admin_mixins import PolicyAdmin, ReadOnlyAdmin

admin.site.site_header = "Auth done right: administration"


def _site_password_change(request, extra_context=None):
    """The admin's "Change password" is the site's own page: throttled, audited, tokens revoked.

    Django's stock view would set the password and keep every OAuth token and other
    session alive, without an audit row or a throttle.
    """
    return redirect("accounts:password_change")


admin.site.password_change = _site_password_change
admin.site.password_change_done = lambda request, extra_context=None: redirect("accounts:profile")


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
            user=obj, acting_user=request.user, request=request, role=obj.role, region=obj.region, is_active=obj.is_active
        )

    def delete_model(self, request, obj):
        services.user_delete(user=obj, acting_user=request.user, request=request)

    def get_actions(self, request):
        return {}  # bulk delete would skip the scrubbing service


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "outcome", "actor", "client_id", "ip", "target", "reason"]
    list_filter = ["event", "outcome", "created_at"]
    search_fields = ["target", "reason", "client_id", "ip"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
