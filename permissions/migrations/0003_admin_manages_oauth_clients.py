"""Formerly granted the admin role the OAuth client permissions; oauth/0002 does that now.

Kept, empty, so that databases which applied it keep a consistent migration history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("permissions", "0002_default_roles")]

    operations = []
