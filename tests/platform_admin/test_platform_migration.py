"""Environments and services moved from deployments to platform_admin (deployments 0004
and 0005, platform_admin 0003): every row keeps its id, every foreign key still resolves,
and permissions follow the content type."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from deployments.models import Rollout, RolloutEvent
from platform_admin.models import Environment, RoleGrant, Service

BEFORE_THE_MOVE = [
    ("deployments", "0003_rollout_plan"),
    ("platform_admin", "0002_audit_append_only"),
]
IMAGE = "us-docker.pkg.dev/acme/app/api-server@sha256:" + "b" * 64


def _migrate(targets):
    """Migrate the test database to `targets` and return an executor with a fresh graph."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _leaf_nodes():
    # Leaves, not a named migration: the test keeps working as migrations are added.
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _later_apps() -> list[str]:
    """Apps whose first migration needs the move (it refers to platform_admin's models):
    not yet there at the time, so unmigrated before it."""
    graph = MigrationExecutor(connection).loader.graph
    move = ("platform_admin", "0003_environment_service")
    apps = {app for app, _ in graph.leaf_nodes()} - {app for app, _ in BEFORE_THE_MOVE}
    return sorted(
        app for app in apps if any(move in graph.forwards_plan(r) for r in graph.root_nodes(app))
    )


def _before_the_move():
    """The two apps before the move, apps born later unmigrated, every other app
    (contenttypes, auth) as it is today."""
    later = _later_apps()
    moved = {app for app, _ in BEFORE_THE_MOVE} | set(later)
    unmigrated = [(app, None) for app in later]
    return BEFORE_THE_MOVE + unmigrated + [n for n in _leaf_nodes() if n[0] not in moved]


def _rows_before_the_move(apps) -> dict:
    """The platform as deployments 0003 knew it, written with the historical models."""
    Env = apps.get_model("deployments", "Environment")
    Svc = apps.get_model("deployments", "Service")
    Release = apps.get_model("deployments", "Release")
    Artifact = apps.get_model("deployments", "ReleaseArtifact")
    Rollout = apps.get_model("deployments", "Rollout")
    Event = apps.get_model("deployments", "RolloutEvent")
    Grant = apps.get_model("platform_admin", "RoleGrant")
    User = apps.get_model("auth", "User")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")

    staging = Env.objects.create(
        slug="staging", name="Staging", position=1, gcp_project="acme-staging", region="eu"
    )
    production = Env.objects.create(
        slug="production",
        name="Production",
        position=2,
        gcp_project="acme-prod",
        region="eu",
        requires_approval=True,
        promote_from=staging,
    )
    services = [
        Svc.objects.create(environment=env, name=name, kind=kind, position=i)
        for env in (staging, production)
        for i, (name, kind) in enumerate([("api-server", "cloud_run"), ("db", "cloud_sql")])
    ]
    alice = User.objects.create(username="alice", password="!")
    grant = Grant.objects.create(user=alice, role="deployer", environment=production)
    env_type, _ = ContentType.objects.get_or_create(app_label="deployments", model="environment")
    change_env, _ = Permission.objects.get_or_create(
        content_type=env_type, codename="change_environment", defaults={"name": "Can change"}
    )
    alice.user_permissions.add(change_env)

    release = Release.objects.create(version="1.4.0", created_by=alice)
    Artifact.objects.create(release=release, service_name="api-server", image=IMAGE)
    plan = [{"service": "api-server", "kind": "cloud_run", "image": IMAGE}]
    succeeded = Rollout.objects.create(
        release=release, environment=staging, started_by=alice, state="succeeded", plan=plan
    )
    canary = Rollout.objects.create(
        release=release,
        environment=production,
        started_by=alice,
        approved_by=alice,
        state="canary",
        steps=[5, 50, 100],
        step=1,
        plan=plan,
    )
    event = Event.objects.create(rollout=canary, kind="step", message="50% to the canary")
    return {
        "environments": {"staging": staging.pk, "production": production.pk},
        "services": sorted(s.pk for s in services),
        "rollouts": {"succeeded": succeeded.pk, "canary": canary.pk},
        "event": event.pk,
        "grant": grant.pk,
        "user": alice.pk,
        "content_type": env_type.pk,
        "permission": change_env.pk,
    }


@pytest.mark.django_db(transaction=True)
def test_moving_environments_to_platform_admin_keeps_every_row_and_id():
    try:
        targets = _before_the_move()
        executor = _migrate(targets)
        assert "deployments_environment" in connection.introspection.table_names()
        nodes = [node for node in targets if node[1] is not None]
        before = _rows_before_the_move(executor.loader.project_state(nodes).apps)

        _migrate(_leaf_nodes())
        ContentType.objects.clear_cache()  # the cache may hold the pre-move mapping

        envs = before["environments"]
        staging = Environment.objects.get(pk=envs["staging"])
        production = Environment.objects.get(pk=envs["production"])
        assert (staging.slug, production.slug) == ("staging", "production")
        assert staging.promote_from is None and production.promote_from == staging
        assert sorted(Service.objects.values_list("pk", flat=True)) == before["services"]
        assert list(production.services.values_list("name", flat=True)) == ["api-server", "db"]

        rollouts = before["rollouts"]
        succeeded = Rollout.objects.get(pk=rollouts["succeeded"])
        canary = Rollout.objects.get(pk=rollouts["canary"])
        assert (succeeded.environment, succeeded.state) == (staging, "succeeded")
        assert (canary.environment, canary.state, canary.step) == (production, "canary", 1)
        assert canary.release.images() == {"api-server": IMAGE}
        assert RolloutEvent.objects.get(pk=before["event"]).rollout == canary
        assert RoleGrant.objects.get(pk=before["grant"]).environment == production

        env_type = ContentType.objects.get_for_model(Environment)
        assert (env_type.pk, env_type.app_label) == (before["content_type"], "platform_admin")
        assert not ContentType.objects.filter(app_label="deployments", model="environment")
        assert Permission.objects.get(pk=before["permission"]).content_type == env_type
        alice = production.role_grants.get().user
        assert alice.pk == before["user"]
        assert alice.has_perm("platform_admin.change_environment")

        tables = connection.introspection.table_names()
        assert {"platform_admin_environment", "platform_admin_service"} <= set(tables)
        assert not {"deployments_environment", "deployments_service"} & set(tables)
        assert Environment._meta.db_table == "platform_admin_environment"
        assert Service._meta.db_table == "platform_admin_service"
        with connection.cursor() as cursor:
            rollout_fks = connection.introspection.get_constraints(cursor, "deployments_rollout")
        assert ("platform_admin_environment", "id") in {
            c["foreign_key"] for c in rollout_fks.values() if c["foreign_key"]
        }

        # The id sequence came along with the table: a new environment takes a fresh id.
        new = Environment.objects.create(slug="dev", name="Dev", gcp_project="d", region="eu")
        assert new.pk > max(envs.values())
    finally:
        _migrate(_leaf_nodes())  # the other tests need the schema of today
