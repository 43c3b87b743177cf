"""Cloud Monitoring adapter against the sandbox's traffic model (20 requests/s a service)."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from platform_admin import gcp
from platform_admin.gcp_compute import get_instance
from platform_admin.gcp_monitoring import (
    RevisionMetrics,
    revision_metrics,
    service_metrics,
    services_metrics,
    vm_cpu_utilization,
)
from platform_admin.gcp_run import TrafficTarget, deploy_revision, get_service, set_traffic
from tests.platform_admin.conftest import PROD, REGION, STAGING, ZONE

BAKE_SECONDS = 3.0  # at 20 requests/s: ~60 requests, ~3 of them on a 5% canary


def _now() -> datetime:
    return datetime.now(UTC)


def _canary(project: str, service: str, image_tag: str = "v2") -> tuple[str, str]:
    """Deploy `<service>-v2` and send it 5%; returns (stable, canary) revision names."""
    before = get_service(project, REGION, service)
    stable = before.latest_ready_revision
    image = before.image.split("@")[0] + ":" + image_tag
    deploy_revision(project, REGION, service, image, f"{service}-v2")
    set_traffic(
        project,
        REGION,
        service,
        [TrafficTarget(stable, 95), TrafficTarget(f"{service}-v2", 5, "canary")],
    )
    return stable, f"{service}-v2"


def test_revision_metrics_follow_a_95_5_split(gcp_sandbox):
    stable, canary = _canary(PROD, "api-server")
    start = _now()
    time.sleep(BAKE_SECONDS)
    end = _now()

    old = revision_metrics(PROD, "api-server", stable, start, end)
    new = revision_metrics(PROD, "api-server", canary, start, end)

    total = old.requests + new.requests
    assert 40 <= total <= 80
    assert 0.01 <= new.requests / total <= 0.12
    assert old.error_rate < 0.02
    assert 50 <= old.p95_ms <= 200 and 50 <= new.p95_ms <= 200


def test_service_metrics_has_every_revision_that_served(gcp_sandbox):
    stable, canary = _canary(STAGING, "realtime")
    start = _now()
    time.sleep(BAKE_SECONDS)

    per_revision = service_metrics(STAGING, "realtime", start, _now())

    assert set(per_revision) == {stable, canary}
    assert per_revision[stable].requests > per_revision[canary].requests > 0


def test_services_metrics_reads_several_services_in_two_queries(gcp_sandbox):
    realtime_stable, realtime_canary = _canary(STAGING, "realtime")
    agent_stable, agent_canary = _canary(STAGING, "agent")
    start = _now()
    time.sleep(BAKE_SECONDS)
    end = _now()
    mark = len(gcp_sandbox.requests())

    figures = services_metrics(STAGING, ["realtime", "agent", "api-server"], start, end)

    calls = [r for r in gcp_sandbox.requests(mark) if r["method"] == "GRPC"]
    assert len(calls) == 2  # counts and latencies, for the three services at once
    assert all(
        'resource.labels.service_name=one_of("realtime","agent","api-server")'
        in c["body"]["filter"]
        for c in calls
    )
    assert set(figures["realtime"]) == {realtime_stable, realtime_canary}
    assert set(figures["agent"]) == {agent_stable, agent_canary}
    assert realtime_canary not in figures["api-server"]  # each service its own revisions
    for service in ("realtime", "agent"):
        alone = service_metrics(STAGING, service, start, end)
        assert figures[service] == alone  # the same figures as one service's own query


def test_a_faulty_canary_shows_its_error_rate_and_latency(gcp_sandbox):
    before = get_service(STAGING, REGION, "api-server")
    gcp_sandbox.fault(
        project=STAGING,
        service="api-server",
        image=before.image.split("@")[0] + ":bad",
        error_rate=0.5,
        p95_ms=900,
    )
    stable = before.latest_ready_revision
    deploy_revision(
        STAGING, REGION, "api-server", before.image.split("@")[0] + ":bad", "api-server-bad"
    )
    set_traffic(
        STAGING,
        REGION,
        "api-server",
        [TrafficTarget(stable, 50), TrafficTarget("api-server-bad", 50, "canary")],
    )
    start = _now()
    time.sleep(2)

    bad = revision_metrics(STAGING, "api-server", "api-server-bad", start, _now())

    assert bad.requests >= 10
    assert 0.3 <= bad.error_rate <= 0.7
    assert 800 <= bad.p95_ms <= 1000


def test_a_revision_without_traffic_has_no_requests_and_no_p95(gcp_sandbox):
    before = get_service(STAGING, REGION, "agent")
    deploy_revision(STAGING, REGION, "agent", before.image.split("@")[0] + ":v2", "agent-v2")
    end = _now()

    idle = revision_metrics(STAGING, "agent", "agent-v2", end - timedelta(minutes=5), end)

    assert idle == RevisionMetrics(requests=0, errors=0, p95_ms=None)
    assert idle.error_rate == 0.0


def test_the_query_aggregates_the_whole_window_in_one_call_per_metric(gcp_sandbox):
    end = _now()
    mark = len(gcp_sandbox.requests())

    revision_metrics(STAGING, "api-server", "api-server-x", end - timedelta(minutes=5), end)

    calls = [r for r in gcp_sandbox.requests(mark) if r["method"] == "GRPC"]
    filters = [c["body"]["filter"] for c in calls]
    assert len(filters) == 2
    assert 'metric.type="run.googleapis.com/request_count"' in filters[0]
    assert 'metric.type="run.googleapis.com/request_latencies"' in filters[1]
    assert all('resource.labels.revision_name="api-server-x"' in f for f in filters)


def test_a_503_from_monitoring_is_retried(gcp_sandbox):
    gcp_sandbox.api_fault(method="GRPC", path_regex="ListTimeSeries", status=503, times=2)
    end = _now()

    metrics = service_metrics(STAGING, "api-server", end - timedelta(minutes=1), end)

    assert len(metrics) == 1


def test_vm_cpu_utilization_is_a_fraction(gcp_sandbox):
    instance = get_instance(STAGING, ZONE, "livekit")
    end = _now()

    cpu = vm_cpu_utilization(STAGING, instance.id, end - timedelta(minutes=10), end)

    assert cpu is not None and 0.0 < cpu < 1.0


def test_vm_cpu_utilization_of_an_unknown_vm_is_none(gcp_sandbox):
    end = _now()

    assert vm_cpu_utilization(STAGING, "123", end - timedelta(minutes=10), end) is None


def test_a_window_ending_before_it_starts_is_refused(gcp_sandbox):
    end = _now()

    with pytest.raises(gcp.GcpInvalidRequest):
        revision_metrics(STAGING, "api-server", "api-server-x", end, end - timedelta(seconds=1))
