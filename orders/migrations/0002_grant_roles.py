"""Grant the roles the order permissions declared in orders/policy.py."""

from django.db import migrations

from core import grants

# Frozen copy of the ``granted_to`` of orders/policy.py's records at the time of this migration:
# a migration must not change when the code it came from changes later.
GRANTS = {
    "customer": [
        "orders.view_order",
        "orders.view_refundrequest",
        "orders.add_order",
        "orders.pay_order",
        "orders.cancel_order",
        "orders.request_refund",
    ],
    "support": ["orders.view_order", "orders.view_refundrequest", "orders.request_refund"],
    "manager": ["orders.view_order", "orders.view_refundrequest", "orders.decide_refund"],
    "admin": ["orders.view_order", "orders.view_refundrequest", "orders.decide_refund"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("permissions", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [grants.operation(GRANTS)]
