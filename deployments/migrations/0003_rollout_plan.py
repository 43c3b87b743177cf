"""Rollout.plan: the services a rollout deploys, copied when it starts. Rollouts made
before get the plan their engine passes used to read: the deployable services of the
environment that the release carries, in service order."""

from django.db import migrations, models

DEPLOYABLE_KINDS = ("cloud_run", "gce_vm")  # as of this migration


def fill_plans(apps, schema_editor):
    Rollout = apps.get_model("deployments", "Rollout")
    Service = apps.get_model("deployments", "Service")
    ReleaseArtifact = apps.get_model("deployments", "ReleaseArtifact")
    for rollout in Rollout.objects.all().iterator():
        images = dict(
            ReleaseArtifact.objects.filter(release_id=rollout.release_id).values_list(
                "service_name", "image"
            )
        )
        services = (
            Service.objects.filter(environment_id=rollout.environment_id, kind__in=DEPLOYABLE_KINDS)
            .order_by("position", "name")
            .values_list("name", "kind")
        )
        rollout.plan = [
            {"service": name, "kind": kind, "image": images[name]}
            for name, kind in services
            if name in images
        ]
        rollout.save(update_fields=["plan"])


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0002_rollout_engine"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollout",
            name="plan",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The services it deploys, in service order, each with its kind and "
                "image: copied when the rollout starts.",
            ),
        ),
        migrations.RunPython(fill_plans, migrations.RunPython.noop),
    ]
