"""Admin pages for accounts: the audit log. Users are administered from ``permissions/admin.py``,
next to the users API: who may manage whom is an authorization question."""

from django.contrib import admin
from django.shortcuts import redirect

from accounts.models import AuditEvent, Passkey
from core.admin import ReadOnlyAdmin

admin.site.site_header = "Auth done right: administration"


def _site_password_change(request, extra_context=None):
    """The admin's "Change password" is the site's own page: throttled, audited, tokens revoked.

    Django's stock view would set the password and keep every OAuth token and other
    session alive, without an audit row or a throttle.
    """
    return redirect("accounts:password_change")


def _site_password_change_done(request, extra_context=None):
    return redirect("accounts:profile")


# Replacing the default site's views on the instance; the stubs declare them as methods.
admin.site.password_change = _site_password_change  # type: ignore[method-assign]
admin.site.password_change_done = _site_password_change_done  # type: ignore[method-assign]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    # count: how many occurrences the row stands for (throttled sign-ins: one row per bucket and window).
    list_display = ["created_at", "event", "outcome", "count", "actor", "client_id", "ip", "target", "reason"]
    list_filter = ["event", "outcome", "created_at"]
    search_fields = ["target", "reason", "client_id", "ip"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyAdmin):
    """Read-only: a passkey is added and removed by its owner (after a step-up), never here."""

    list_display = ["name", "user", "created_at", "last_used_at", "sign_count", "backup_eligible", "backup_state"]
    list_filter = ["backup_eligible", "backup_state", "created_at"]
    search_fields = ["name", "user__email"]
    list_select_related = ["user"]
    fields = readonly_fields = (
        "user", "name", "aaguid", "transports", "sign_count", "backup_eligible", "backup_state",
        "created_at", "last_used_at",
    )
