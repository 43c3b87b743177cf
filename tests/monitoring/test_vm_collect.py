"""The VM side of a health pass against the sandbox's Compute Engine: instance status,
the health probe's answer as an uptime sample, the version its metadata pins, CPU."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

from django.db.models import Sum

from monitoring import collect, rollup
from monitoring.collect import HOUR, MINUTE, floor_to
from monitoring.models import HealthSample, LiveService
from platform_admin.gcp_compute import get_instance
from tests.deployments.conftest import gcp, sandbox_server  # noqa: F401

VM, ZONE = "livekit", "us-central1-a"


def _now() -> datetime:
    return floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=30) + timedelta(seconds=7)


def _probes(env):
    return HealthSample.objects.filter(environment=env, service=VM, resolution="minute")


def test_a_pass_records_the_vms_status_pinned_version_probe_and_cpu(gcp, staging):
    pinned = get_instance(staging.gcp_project, ZONE, VM).metadata["livekit-version"]
    now = _now()

    collect.sample_environment(staging, now)

    live = LiveService.objects.get(environment=staging, service=VM)
    assert (live.kind, live.status, live.ready, live.image) == ("gce_vm", "RUNNING", True, pinned)
    assert live.detail["probe_ok"] is True and live.detail["probe_version"] == pinned
    assert 0.15 <= live.detail["cpu_utilization"] <= 0.35  # the sandbox's 18–32 %
    [sample] = _probes(staging)
    assert (sample.time, sample.revision) == (floor_to(now, MINUTE) - MINUTE, pinned)
    assert (sample.requests, sample.errors_5xx) == (1, 0)


def test_the_vm_adds_one_monitoring_call_to_a_pass(gcp, staging):
    def calls(now) -> int:
        mark = len(gcp.requests())
        collect.sample_environment(staging, now)
        return sum(1 for r in gcp.requests(mark) if r["method"] == "GRPC")

    now = _now()
    calls(now)  # the first pass (backfill)
    assert calls(now + MINUTE) == 3 + 1  # three metrics for Cloud Run, the VM's CPU


def test_a_failing_probe_is_a_bad_minute_and_the_vm_is_not_ready(gcp, staging):
    gcp.fault(project=staging.gcp_project, instance=VM, version="", healthy=False)
    now = _now()

    collect.sample_environment(staging, now)

    live = LiveService.objects.get(environment=staging, service=VM)
    assert live.status == "RUNNING" and live.ready is False
    assert live.detail["probe_ok"] is False and "503" in live.detail["probe_detail"]
    [sample] = _probes(staging)
    assert (sample.requests, sample.errors_5xx) == (1, 1)


def test_a_second_pass_in_the_same_minute_replaces_the_probe_sample(gcp, staging):
    now = _now()
    collect.sample_environment(staging, now)
    gcp.fault(project=staging.gcp_project, instance=VM, version="", healthy=False)

    collect.sample_environment(staging, now + timedelta(seconds=20))

    [sample] = _probes(staging)
    assert (sample.requests, sample.errors_5xx) == (1, 1)  # the newer answer, not two


def test_probe_downtime_counts_against_the_vms_hour(gcp, staging):
    start = floor_to(_now(), HOUR) - 2 * HOUR + MINUTE + timedelta(seconds=5)  # closes :00
    for minute in range(10):
        if minute == 6:  # minutes 6..9 fail
            gcp.fault(project=staging.gcp_project, instance=VM, version="", healthy=False)
        collect.sample_environment(staging, start + minute * MINUTE, backfill_days=1)

    rollup.roll_hours(staging, floor_to(start, HOUR), floor_to(start, HOUR) + HOUR)

    hour = HealthSample.objects.filter(
        environment=staging, service=VM, resolution="hour", time=floor_to(start, HOUR)
    ).aggregate(n=Sum("requests"), bad=Sum("errors_5xx"))
    assert hour == {"n": 10, "bad": 4}  # 60 % uptime for the probed minutes
