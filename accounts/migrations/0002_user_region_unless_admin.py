"""Every non-admin has a region, in the database.

Before the constraint, the users API could set a non-admin's region to nothing. Such a
customer gets back the region of their latest order (where they last acted; a
customer's region decides nothing else). Any other non-admin without a region stops the
migration with their ids: a region decides what support and managers see, so it is the
operator's choice, not a guess (set one in the admin or the users API, then migrate).
"""

from django.db import migrations, models


def restore_regions(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Order = apps.get_model("orders", "Order")
    missing = User.objects.exclude(role="admin").filter(region="")
    for user in missing.filter(role="customer"):
        latest = Order.objects.filter(owner_id=user.pk).order_by("-created_at").values_list("region", flat=True).first()
        if latest:
            User.objects.filter(pk=user.pk).update(region=latest)
    left = list(missing.values_list("pk", "role"))
    if left:
        listed = ", ".join(f"{pk} ({role})" for pk, role in left)
        raise RuntimeError(f"These accounts need a region before this migration can run: {listed}.")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('orders', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(restore_regions, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.CheckConstraint(condition=models.Q(('role', 'admin'), models.Q(('region', ''), _negated=True), _connector='OR'), name='user_region_unless_admin', violation_error_message='Every role but admin needs a region.'),
        ),
    ]
