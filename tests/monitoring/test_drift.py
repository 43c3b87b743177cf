"""Drift: a dashboard rollout to staging through a real worker, then the traffic changed
straight against the sandbox's Cloud Run (as the console or gcloud would): the next
health pass says so on the environment page and audits it once; putting it back clears it."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

import pytest

from deployments import services
from deployments.models import RolloutState
from monitoring import collect
from monitoring.collect import HOUR, floor_to
from monitoring.models import LiveService
from platform_admin.gcp_run import TrafficTarget, get_service, set_traffic
from platform_admin.models import AuditEvent
from tests.deployments.conftest import (  # noqa: F401
    fast_plan,
    gcp,
    redis_conn,
    sandbox_server,
    slack,
    wait_for_state,
    worker,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _pass(env):
    now = floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=30)
    collect.sample_environment(env, now, backfill_days=1)
    return LiveService.objects.get(environment=env, service="api-server")


def _drift_events(env):
    return AuditEvent.objects.filter(action="health.drift", environment=env.slug)


@pytest.mark.usefixtures("worker", "fast_plan")
def test_a_split_changed_outside_the_dashboard_is_shown_audited_once_and_cleared(
    client, alice, staging, make_release
):
    project, region = staging.gcp_project, staging.region
    before = get_service(project, region, "api-server").latest_ready_revision
    rollout = services.start_rollout(alice, make_release("2.0.0"), staging, "all_at_once")
    wait_for_state(rollout, RolloutState.SUCCEEDED)
    new = get_service(project, region, "api-server").latest_ready_revision
    assert new != before
    assert _pass(staging).drift == ""  # what the rollout left: nothing to say

    set_traffic(project, region, "api-server", [TrafficTarget(new, 80), TrafficTarget(before, 20)])
    live = _pass(staging)

    assert live.drift.startswith(f"api-server: 80% on {new}, 20% on {before}")
    assert "changed outside the dashboard" in live.drift
    assert f"the last rollout left 100% on {new}" in live.drift
    client.force_login(alice)
    assert live.drift in client.get("/health/staging/").content.decode()
    _pass(staging)
    _pass(staging)
    [event] = _drift_events(staging)  # once, not once per pass
    assert event.detail["service"] == "api-server" and event.detail["live"] == {new: 80, before: 20}

    set_traffic(project, region, "api-server", [TrafficTarget(new, 100)])
    assert _pass(staging).drift == ""
    assert "changed outside the dashboard" not in client.get("/health/staging/").content.decode()
    assert _drift_events(staging).count() == 1


@pytest.mark.usefixtures("worker", "fast_plan")
def test_a_service_no_rollout_touched_has_no_drift(staging, alice, make_release):
    rollout = services.start_rollout(
        alice, make_release("2.0.1", services=("api-server",)), staging, "all_at_once"
    )
    wait_for_state(rollout, RolloutState.SUCCEEDED)
    project, region = staging.gcp_project, staging.region
    realtime = get_service(project, region, "realtime").latest_ready_revision
    set_traffic(project, region, "realtime", [TrafficTarget(realtime, 100)])

    _pass(staging)

    assert not LiveService.objects.exclude(drift="").filter(environment=staging).exists()
    assert not _drift_events(staging).exists()
