"""python manage.py roles: the role x permission matrix, as installed."""

from django.core.management.base import BaseCommand

from accounts.models import Role
from permissions.models import RolePermission


class Command(BaseCommand):
    help = "Print which permissions each role holds."

    def handle(self, *args, **options):
        held: dict[str, set[str]] = {role: set() for role in Role.values}
        names: set[str] = set()
        rows = RolePermission.objects.values_list("role", "permission__content_type__app_label", "permission__codename")
        for role, app_label, codename in rows:
            name = f"{app_label}.{codename}"
            held[role].add(name)
            names.add(name)
        width = max((len(name) for name in names), default=10)
        roles = list(Role.values)
        self.stdout.write(" ".join([f"{'permission':<{width}}", *(f"{role:^9}" for role in roles)]))
        for name in sorted(names):
            marks = (f"{'x' if name in held[role] else '.':^9}" for role in roles)
            self.stdout.write(" ".join([f"{name:<{width}}", *marks]))
