"""Which permissions each role holds."""

from django.contrib.auth.models import Permission
from django.db import models

from accounts.models import Role


class RolePermission(models.Model):
    role = models.CharField(max_length=16, choices=Role.choices)
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["role", "permission__content_type__app_label", "permission__codename"]
        constraints = [
            models.UniqueConstraint(fields=["role", "permission"], name="role_permission_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="role_permission_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.permission.content_type.app_label}.{self.permission.codename}"
