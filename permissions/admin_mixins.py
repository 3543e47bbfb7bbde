"""Django admin classes that ask the policy, object by object, like every other view."""

from __future__ import annotations

from django.contrib import admin

from permissions import policy


class PolicyAdmin(admin.ModelAdmin):
    """Lists what the policy lets the admin see; each object permission is asked with the object."""

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def get_queryset(self, request):
        return policy.restrict(super().get_queryset(request), request.user, self._perm("view"))

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("view"), obj)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("change"), obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm(self._perm("delete"), obj)

    def has_add_permission(self, request):
        return False
