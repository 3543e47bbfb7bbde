"""Give a customer whose region was taken away (the users API allowed it) the region of
their latest order, before accounts/0002 requires a region of every non-admin.

``run_before`` puts the ordering here, on the orders side, so that accounts' migrations
never depend on orders (imports and migrations point one way: orders -> accounts).
"""

from django.db import migrations


def restore_regions(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Order = apps.get_model("orders", "Order")
    for user in User.objects.filter(role="customer", region=""):
        latest = Order.objects.filter(owner_id=user.pk).order_by("-created_at").values_list("region", flat=True).first()
        if latest:
            User.objects.filter(pk=user.pk).update(region=latest)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_grant_roles"),
        ("accounts", "0001_initial"),
    ]
    run_before = [("accounts", "0002_user_region_unless_admin")]

    operations = [migrations.RunPython(restore_regions, migrations.RunPython.noop)]
