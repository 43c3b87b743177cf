"""Environments and services move down to platform_admin (3 of 3): rollouts point at
platform_admin.Environment and this app forgets the two models. State only: the column
and its foreign key are unchanged."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0004_platform_tables_renamed"),
        ("platform_admin", "0003_environment_service"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="rollout",
                    name="environment",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rollouts",
                        to="platform_admin.environment",
                    ),
                ),
                migrations.DeleteModel(name="Service"),
                migrations.DeleteModel(name="Environment"),
            ],
        ),
    ]
