"""Environments and services move down to platform_admin (2 of 3): the models join this
app's state over the tables 0004 of deployments renamed (no schema change), and the
content types follow, so permissions granted on them are kept."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("environment", "service"):
        ContentType.objects.filter(app_label="deployments", model=model).update(
            app_label="platform_admin"
        )


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("environment", "service"):
        ContentType.objects.filter(app_label="platform_admin", model=model).update(
            app_label="deployments"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("platform_admin", "0002_audit_append_only"),
        ("deployments", "0004_platform_tables_renamed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Environment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("slug", models.SlugField(max_length=40, unique=True)),
                        ("name", models.CharField(max_length=80)),
                        (
                            "position",
                            models.PositiveIntegerField(default=0, help_text="Order in lists."),
                        ),
                        ("gcp_project", models.CharField(max_length=63)),
                        ("region", models.CharField(max_length=40)),
                        ("requires_approval", models.BooleanField(default=False)),
                        (
                            "monthly_target",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0"), max_digits=12
                            ),
                        ),
                        ("cost_labels", models.JSONField(blank=True, default=dict)),
                        ("slack_webhook_env", models.CharField(blank=True, max_length=64)),
                        ("canary_steps", models.JSONField(default=list)),
                        ("bake_seconds", models.PositiveIntegerField(default=300)),
                        (
                            "max_error_rate",
                            models.DecimalField(
                                decimal_places=5, default=Decimal("0.005"), max_digits=6
                            ),
                        ),
                        ("min_requests", models.PositiveIntegerField(default=100)),
                        ("default_strategy", models.CharField(default="canary", max_length=16)),
                        ("slo_p95_ms", models.PositiveIntegerField(default=500)),
                        (
                            "slo_uptime",
                            models.DecimalField(
                                decimal_places=5, default=Decimal("0.95"), max_digits=6
                            ),
                        ),
                        (
                            "promote_from",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="promotes_to",
                                to="platform_admin.environment",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["position", "slug"],
                    },
                ),
                migrations.CreateModel(
                    name="Service",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=63)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("cloud_run", "Cloud Run"),
                                    ("gce_vm", "Compute Engine VM"),
                                    ("static_site", "Static site"),
                                    ("cloud_sql", "Cloud SQL"),
                                    ("memorystore", "Memorystore"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("zone", models.CharField(blank=True, max_length=40)),
                        ("health_url", models.URLField(blank=True)),
                        ("spec", models.JSONField(blank=True, default=dict)),
                        ("position", models.PositiveIntegerField(default=0)),
                        (
                            "environment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="services",
                                to="platform_admin.environment",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["environment", "position", "name"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("environment", "name"), name="service_unique_name"
                            )
                        ],
                    },
                ),
                migrations.AlterField(
                    model_name="rolegrant",
                    name="environment",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="Blank = every environment.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="role_grants",
                        to="platform_admin.environment",
                    ),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
