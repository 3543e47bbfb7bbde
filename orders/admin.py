from django.contrib import admin

from orders.models import Order, RefundRequest
from permissions.admin_mixins import PolicyAdmin


@admin.register(Order)
class OrderAdmin(PolicyAdmin):
    """Read-only: orders change through their services, from the pages and the API."""

    list_display = ["id", "owner", "region", "amount", "currency", "status", "created_at"]
    list_filter = ["status", "region", "currency"]
    list_select_related = ["owner"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RefundRequest)
class RefundRequestAdmin(PolicyAdmin):
    list_display = ["id", "order", "requested_by", "status", "decided_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["order", "requested_by", "decided_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
