"""Environments and services move down to platform_admin (1 of 3): their tables take the
new app's names, keeping every row and id. Foreign keys follow a renamed table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("deployments", "0003_rollout_plan")]

    operations = [
        migrations.AlterModelTable(name="environment", table="platform_admin_environment"),
        migrations.AlterModelTable(name="service", table="platform_admin_service"),
    ]
