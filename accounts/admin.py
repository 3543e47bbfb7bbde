"""Admin pages for accounts: the audit log. Users are administered from ``permissions/admin.py``,
next to the users API: who may manage whom is an authorization question."""

from django.contrib import admin

from accounts.models import AuditEvent
from core.admin import ReadOnlyAdmin

admin.site.site_header = "Auth done right: administration"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "outcome", "actor", "client_id", "ip", "target", "reason"]
    list_filter = ["event", "outcome", "created_at"]
    search_fields = ["target", "reason", "client_id", "ip"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
