"""Every non-admin has a region, in the database.

Before the constraint, the users API could set a non-admin's region to nothing. A customer
left so gets back the region of their latest order first (``orders/0003``, which runs
before this migration: the orders app knows accounts, not the other way round). Any other
non-admin without a region stops this migration with their ids: a region decides what
support and managers see, so it is the operator's choice, not a guess (set one in the
admin or the users API, then migrate).
"""

from django.db import migrations, models


def require_regions(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    left = list(User.objects.exclude(role="admin").filter(region="").values_list("pk", "role"))
    if left:
        listed = ", ".join(f"{pk} ({role})" for pk, role in left)
        raise RuntimeError(f"These accounts need a region before this migration can run: {listed}.")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(require_regions, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.CheckConstraint(condition=models.Q(('role', 'admin'), models.Q(('region', ''), _negated=True), _connector='OR'), name='user_region_unless_admin', violation_error_message='Every role but admin needs a region.'),
        ),
    ]
