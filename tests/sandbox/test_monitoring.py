"""Cloud Monitoring v3 contract: the official gRPC client against the sandbox's traffic model.

Windows are a second or two long and the sandbox runs at a high request rate, so the
expected counts are large enough for tight tolerances without long sleeps.
"""

import time
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3

from tests.sandbox.conftest import RPS, STAGING
from tests.sandbox.test_cloud_run import API, deploy_canary, short, split

Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer
CANARY = "api-server-1-5-0"


def _request(metric: str, start: float, end: float, aggregation: dict, revision: str = ""):
    flt = (
        f'metric.type="{metric}" AND resource.type="cloud_run_revision" AND '
        f'resource.labels.service_name="api-server"'
    )
    if revision:
        flt += f' AND resource.labels.revision_name="{revision}"'
    return {
        "name": f"projects/{STAGING}",
        "filter": flt,
        "interval": {
            "start_time": datetime.fromtimestamp(start, UTC),
            "end_time": datetime.fromtimestamp(end, UTC),
        },
        "aggregation": aggregation,
    }


def counts_by_class(client, revision: str, start: float, end: float) -> dict[str, int]:
    request = _request(
        "run.googleapis.com/request_count",
        start,
        end,
        {
            "alignment_period": {"seconds": 3600},
            "per_series_aligner": Aligner.ALIGN_DELTA,
            "cross_series_reducer": Reducer.REDUCE_SUM,
            "group_by_fields": ["metric.label.response_code_class"],
        },
        revision,
    )
    series = client.list_time_series(request=request, retry=None, timeout=5)
    return {
        s.metric.labels["response_code_class"]: sum(p.value.int64_value for p in s.points)
        for s in series
    }


def p95(client, revision: str, start: float, end: float) -> float:
    request = _request(
        "run.googleapis.com/request_latencies",
        start,
        end,
        {
            "alignment_period": {"seconds": 3600},
            "per_series_aligner": Aligner.ALIGN_PERCENTILE_95,
            "cross_series_reducer": Reducer.REDUCE_MAX,
        },
        revision,
    )
    [series] = client.list_time_series(request=request, retry=None, timeout=5)
    return series.points[0].value.double_value


def test_seeded_revision_serves_the_base_rate_with_healthy_errors_and_latency(
    metrics_client, run_client
):
    stable = short(run_client.get_service(name=API).latest_ready_revision)
    now = time.time()
    counts = counts_by_class(metrics_client, stable, now - 60, now - 30)
    total = sum(counts.values())
    assert total == pytest.approx(RPS * 30, rel=0.05)
    assert counts["5xx"] / total == pytest.approx(0.0002, abs=0.0001)
    assert counts["4xx"] > 0 and counts["2xx"] > 0.99 * total
    assert 75 <= p95(metrics_client, stable, now - 60, now - 30) <= 130


def test_rate_aligner_returns_one_point_per_alignment_period(metrics_client):
    now = time.time()
    request = _request(
        "run.googleapis.com/request_count",
        now - 10,
        now - 5,
        {
            "alignment_period": {"seconds": 1},
            "per_series_aligner": Aligner.ALIGN_RATE,
            "cross_series_reducer": Reducer.REDUCE_SUM,
        },
    )
    [series] = metrics_client.list_time_series(request=request, retry=None, timeout=5)
    assert len(series.points) == 5
    assert all(p.value.double_value == pytest.approx(RPS, rel=0.05) for p in series.points)
    ends = [p.interval.end_time.timestamp() for p in series.points]
    assert ends == sorted(ends, reverse=True) and ends[0] == pytest.approx(now - 5, abs=0.01)


def test_canary_metrics_follow_the_traffic_split_and_its_fault_profile(
    metrics_client, run_client, sandbox
):
    image = "us-docker.pkg.dev/acme-staging/app/api-server:1.5.0@sha256:" + "ab" * 32
    sandbox.fault(project=STAGING, service="api-server", image=image, error_rate=0.1, p95_ms=450)
    stable, op = deploy_canary(run_client, image=image, name=CANARY)
    op.result(timeout=10)
    svc = run_client.get_service(name=API)
    svc.traffic[:] = split((stable, 50, ""), (CANARY, 50, "canary"))
    run_client.update_service(service=svc)
    switched = time.time()
    time.sleep(1.5)
    start, end = switched - 1.0, time.time()
    canary = counts_by_class(metrics_client, CANARY, start, end)
    base = counts_by_class(metrics_client, stable, start, end)
    after = end - switched
    assert sum(canary.values()) == pytest.approx(0.5 * RPS * after, rel=0.1)
    assert sum(base.values()) == pytest.approx(RPS * 1.0 + 0.5 * RPS * after, rel=0.1)
    assert canary["5xx"] / sum(canary.values()) == pytest.approx(0.1, abs=0.02)
    assert base.get("5xx", 0) / sum(base.values()) < 0.005
    assert p95(metrics_client, CANARY, start, end) == pytest.approx(450, rel=0.06)
    assert p95(metrics_client, stable, start, end) < 130


def test_grouping_by_revision_without_a_revision_filter(metrics_client, run_client):
    stable, op = deploy_canary(run_client, name=CANARY)
    op.result(timeout=10)
    now = time.time()
    request = _request(
        "run.googleapis.com/request_count",
        now - 5,
        now,
        {
            "alignment_period": {"seconds": 60},
            "per_series_aligner": Aligner.ALIGN_DELTA,
            "cross_series_reducer": Reducer.REDUCE_SUM,
            "group_by_fields": ["resource.label.revision_name"],
        },
    )
    series = metrics_client.list_time_series(request=request, retry=None, timeout=5)
    by_revision = {
        s.resource.labels["revision_name"]: s.points[0].value.int64_value for s in series
    }
    assert set(by_revision) == {stable}  # the canary is tagged but gets 0% of requests
    assert by_revision[stable] == pytest.approx(RPS * 5, rel=0.05)


def test_vm_cpu_utilization_is_a_fraction_per_instance(metrics_client, sandbox):
    instance_id = sandbox.state()["instances"][f"{STAGING}/us-central1-a/livekit"]["id"]
    now = time.time()
    request = {
        "name": f"projects/{STAGING}",
        "filter": 'metric.type="compute.googleapis.com/instance/cpu/utilization" AND '
        f'resource.type="gce_instance" AND resource.labels.instance_id="{instance_id}"',
        "interval": {
            "start_time": datetime.fromtimestamp(now - 600, UTC),
            "end_time": datetime.fromtimestamp(now, UTC),
        },
        "aggregation": {
            "alignment_period": {"seconds": 60},
            "per_series_aligner": Aligner.ALIGN_MEAN,
        },
    }
    [series] = metrics_client.list_time_series(request=request, retry=None, timeout=5)
    assert series.resource.type == "gce_instance"
    assert series.metric.labels["instance_name"] == "livekit"
    assert len(series.points) == 10
    assert all(0 < p.value.double_value < 1 for p in series.points)


def test_unknown_metric_is_invalid_argument(metrics_client):
    now = time.time()
    request = _request("run.googleapis.com/nope", now - 60, now, {})
    with pytest.raises(exceptions.InvalidArgument, match="no data for metric.type"):
        metrics_client.list_time_series(request=request, retry=None, timeout=5)
