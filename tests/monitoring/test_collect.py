"""Health collection against the sandbox: its request counts and error rates, the
Monitoring calls one pass makes, backfill after a gap, idempotent re-sampling.

The sandbox serves 400 requests/s per service (tests/deployments/conftest.py), split by
the traffic history, with ±3 % noise on counts and ±10 % on the error rate. Passes run
at fixed moments in the past, so every bucket they read is complete.
"""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum

from monitoring import collect, rollup
from monitoring.collect import HOUR, MINUTE, floor_to
from monitoring.models import Collection, HealthSample, LiveService
from platform_admin.gcp_run import TrafficTarget, deploy_revision, get_service, set_traffic
from tests.deployments.conftest import SANDBOX_RPS, gcp, sandbox_server  # noqa: F401

RPS = float(SANDBOX_RPS)
SERVICES = {"api-server", "realtime", "agent"}


def _hour_ago_half_past() -> datetime:
    """Half past the previous hour, plus a few seconds: 30 whole minutes to read."""
    return floor_to(datetime.now(UTC), HOUR) - timedelta(minutes=30) + timedelta(seconds=7)


def _monitoring_calls(gcp, since: int) -> int:
    return sum(1 for r in gcp.requests(since) if r["method"] == "GRPC")


def _minutes(env, service=None):
    """The Cloud Run minute samples (the VM's probe samples are test_vm_collect's)."""
    rows = HealthSample.objects.filter(environment=env, resolution="minute", service__in=SERVICES)
    return rows.filter(service=service) if service else rows


def test_a_first_pass_records_each_revisions_minutes_at_the_sandboxs_rate(gcp, staging):
    now = _hour_ago_half_past()

    collect.sample_environment(staging, now)

    rows = list(_minutes(staging))
    assert {r.service for r in rows} == SERVICES
    for service in SERVICES:
        mine = [r for r in rows if r.service == service]
        assert len(mine) == 30  # one revision, 30 whole minutes
        assert {r.time.minute for r in mine} == set(range(30))
        for row in mine:
            assert row.requests == pytest.approx(RPS * 60, rel=0.04)
            assert row.errors_5xx / row.requests == pytest.approx(0.0002, rel=0.3)
            assert row.errors_4xx / row.requests == pytest.approx(0.002, rel=0.1)
            assert 70 <= row.p95_ms <= 130 and row.p50_ms < row.p95_ms


def test_a_faulty_image_shows_its_error_rate_and_the_others_stay_healthy(gcp, staging):
    image = get_service(staging.gcp_project, staging.region, "api-server").image
    gcp.fault(project=staging.gcp_project, service="api-server", image=image, error_rate=0.05)

    collect.sample_environment(staging, _hour_ago_half_past())

    def error_rate(service):
        totals = _minutes(staging, service).aggregate(n=Sum("requests"), bad=Sum("errors_5xx"))
        return totals["bad"] / totals["n"]

    assert error_rate("api-server") == pytest.approx(0.05, rel=0.1)
    assert error_rate("realtime") == pytest.approx(0.0002, rel=0.2)


def test_a_pass_makes_three_monitoring_calls_however_many_services(gcp, staging, production):
    production.services.exclude(name="api-server").filter(kind="cloud_run").delete()
    for env in (staging, production):  # the VM's CPU query is test_vm_collect's
        env.services.filter(kind="gce_vm").delete()
    now = _hour_ago_half_past()

    calls = {}
    for env in (staging, production):
        mark = len(gcp.requests())
        collect.sample_environment(env, now)  # first pass: minutes + the hourly backfill
        first = _monitoring_calls(gcp, mark)
        mark = len(gcp.requests())
        collect.sample_environment(env, now + MINUTE)  # steady state: minutes only
        calls[env.slug] = (first, _monitoring_calls(gcp, mark))

    assert {r.service for r in _minutes(production)} == {"api-server"}
    assert calls == {"staging": (6, 3), "production": (6, 3)}


def test_the_first_pass_backfills_thirty_days_of_hours(gcp, staging):
    now = _hour_ago_half_past()

    collect.sample_environment(staging, now)

    hours = HealthSample.objects.filter(environment=staging, resolution="hour")
    api = hours.filter(service="api-server").order_by("time")
    assert api.count() == 24 * collect.BACKFILL_DAYS
    assert api.first().time == floor_to(now, HOUR) - timedelta(days=30)
    assert api.last().time == floor_to(now, HOUR) - HOUR
    assert api.last().requests == pytest.approx(RPS * 3600, rel=0.04)
    assert hours.values("service").distinct().count() == 3


def _hour_starts(env, service="api-server") -> list[datetime]:
    rows = HealthSample.objects.filter(environment=env, resolution="hour", service=service)
    return list(rows.order_by("time").values_list("time", flat=True))


def test_a_pass_after_a_long_gap_fills_the_missing_hours_without_a_hole(gcp, staging):
    before = _hour_ago_half_past() - timedelta(days=2)
    collect.sample_environment(staging, before, backfill_days=1)
    now = before + timedelta(days=2)

    collect.sample_environment(staging, now, backfill_days=3)  # reaches back over the gap

    starts = _hour_starts(staging)
    expected_first = floor_to(before, HOUR) - timedelta(days=1)
    assert starts[0] == expected_first and starts[-1] == floor_to(now, HOUR) - HOUR
    assert starts == [expected_first + i * HOUR for i in range(len(starts))]  # no hole
    cursor = Collection.objects.get(environment=staging)
    assert cursor.minutes_from == floor_to(now, HOUR)  # minutes restart after the gap
    assert cursor.hours_until == floor_to(now, HOUR)


def test_a_short_gap_is_filled_with_minutes_and_rolled_into_hours(gcp, staging):
    first = _hour_ago_half_past() - timedelta(hours=3)
    collect.sample_environment(staging, first, backfill_days=1)

    collect.sample_environment(staging, first + timedelta(hours=2), backfill_days=1)

    rolled_hour = floor_to(first, HOUR)  # its minutes came from both passes
    minutes = _minutes(staging, "api-server").filter(
        time__gte=rolled_hour, time__lt=rolled_hour + HOUR
    )
    assert minutes.count() == 60
    hour = HealthSample.objects.get(
        environment=staging, resolution="hour", service="api-server", time=rolled_hour
    )
    assert hour.requests == minutes.aggregate(n=Sum("requests"))["n"]
    assert hour.requests == pytest.approx(RPS * 3600, rel=0.04)


def test_sampling_a_window_again_replaces_it_and_never_doubles(gcp, staging):
    now = _hour_ago_half_past()
    collect.sample_environment(staging, now)
    snapshot = list(
        HealthSample.objects.filter(time__lt=floor_to(now, MINUTE)).values_list(
            "service", "time", "requests"
        )
    )

    collect.sample_environment(staging, now)  # the same pass again (a retry, a 2nd cron)
    collect.sample_environment(staging, now + MINUTE)  # re-reads the last minutes

    assert HealthSample.objects.filter(time__lt=floor_to(now, MINUTE)).count() == len(snapshot)
    assert sorted(snapshot) == sorted(
        HealthSample.objects.filter(time__lt=floor_to(now, MINUTE)).values_list(
            "service", "time", "requests"
        )
    )
    assert _minutes(staging, "api-server").count() == 31


def test_a_pass_records_each_services_live_split_and_image(gcp, staging):
    project, region = staging.gcp_project, staging.region
    stable = get_service(project, region, "api-server")
    canary_image = stable.image.split("@")[0] + ":v2"
    deploy_revision(project, region, "api-server", canary_image, "api-server-v2")
    split = [
        TrafficTarget(stable.latest_ready_revision, 80),
        TrafficTarget("api-server-v2", 20, "canary"),
    ]
    set_traffic(project, region, "api-server", split)
    now = _hour_ago_half_past()

    collect.sample_environment(staging, now)

    live = {row.service: row for row in LiveService.objects.filter(environment=staging)}
    assert set(live) == SERVICES | {"livekit", "frontend"} and live["livekit"].kind == "gce_vm"
    assert live["frontend"].kind == "static_site"
    api = live["api-server"]
    assert api.split == {stable.latest_ready_revision: 80, "api-server-v2": 20}
    assert {"revision": "api-server-v2", "percent": 20, "tag": "canary"} in api.traffic
    assert api.image.startswith(canary_image) and api.observed_at == now
    realtime = get_service(project, region, "realtime")
    assert live["realtime"].split == {realtime.latest_ready_revision: 100}


def test_a_failing_environment_is_recorded_and_the_others_still_sampled(gcp, staging, production):
    gcp.api_fault(method="GRPC", path_regex="ListTimeSeries", status=403, times=1)

    outcome = collect.sample(_hour_ago_half_past(), backfill_days=1)

    failed = [slug for slug, result in outcome.items() if result != "ok"]
    assert len(failed) == 1
    assert Collection.objects.get(environment__slug=failed[0]).last_error
    assert HealthSample.objects.exclude(environment__slug=failed[0]).exists()


def test_the_command_samples_every_environment(gcp, staging, production, capsys):
    call_command("sample_health", "--backfill-days", "1")

    out = capsys.readouterr().out
    assert "staging: ok" in out and "production: ok" in out
    assert HealthSample.objects.filter(environment=production, resolution="hour").exists()


def test_sampling_is_a_periodic_job_on_the_default_queue(settings):
    jobs = {job["func"]: job for job in settings.PERIODIC_JOBS}
    job = jobs["monitoring.jobs.sample_health"]
    assert job["queue"] == "default" and job["interval"] == settings.HEALTH_SAMPLE_SECONDS


def test_minutes_read_again_after_the_hour_are_rolled_into_it_again(gcp, staging):
    on_the_hour = floor_to(_hour_ago_half_past(), HOUR) - timedelta(seconds=50)
    collect.sample_environment(staging, on_the_hour - timedelta(minutes=70))
    collect.sample_environment(staging, on_the_hour + timedelta(minutes=1))
    last_hour = floor_to(on_the_hour, HOUR)
    HealthSample.objects.filter(
        environment=staging, resolution="minute", time=last_hour + timedelta(minutes=59)
    ).update(requests=0)  # as if Monitoring's newest point had been short when read
    rollup.roll_hours(staging, last_hour, last_hour + HOUR)  # and the hour built on it

    collect.sample_environment(staging, on_the_hour + timedelta(minutes=2))  # reads :59 again

    minutes = _minutes(staging, "api-server").filter(time__gte=last_hour, time__lt=last_hour + HOUR)
    hour = HealthSample.objects.get(
        environment=staging, resolution="hour", service="api-server", time=last_hour
    )
    assert hour.requests == minutes.aggregate(n=Sum("requests"))["n"]
    assert hour.requests == pytest.approx(RPS * 3600, rel=0.04)
