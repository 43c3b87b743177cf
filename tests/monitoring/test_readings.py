"""Each service's figures from the database: uptime and error budget against a hand
computation, minutes where held and hours beyond, the status badge, chart series, and a
fixed number of queries however long history is and however many services."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import readings
from monitoring.models import Collection, HealthSample, LiveService

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sample(env, resolution, at, requests, bad, service="api-server", p95=None):
    return HealthSample(
        environment=env,
        resolution=resolution,
        time=at,
        service=service,
        revision=f"{service}-00001",
        requests=requests,
        errors_5xx=bad,
        p95_ms=p95,
    )


def _seed(env, days: int, services=("api-server",)) -> None:
    """`days` of hours (1 000 requests, 1 bad, P95 100 ms each; 250 ms every 10th hour)
    and the last 3 days in minutes too (16 requests a minute, 56 and the bad one in each
    hour's first minute, P95 120 ms)."""
    rows = []
    for service in services:
        for h in range(1, 24 * days + 1):
            at = NOW - timedelta(hours=h)
            rows.append(_sample(env, "hour", at, 1000, 1, service, 250 if h % 10 == 0 else 100))
        for m in range(1, 3 * 24 * 60 + 1):
            at = NOW - timedelta(minutes=m)
            first = at.minute == 0
            rows.append(
                _sample(env, "minute", at, 56 if first else 16, 1 if first else 0, service, 120)
            )
    HealthSample.objects.bulk_create(rows)
    Collection.objects.update_or_create(
        environment=env,
        defaults=dict(
            minutes_from=NOW - timedelta(days=3),
            minutes_until=NOW,
            hours_until=NOW,
            sampled_at=NOW,
        ),
    )


def test_uptime_and_budget_over_30_days_of_hours_burn_rates_from_minutes(production):
    _seed(production, days=45)

    api = readings.service_figures(production, NOW)["api-server"]

    # 30 days × 24 hours × 1 000 requests, one bad an hour: 720 bad of 720 000.
    assert api.requests_30d == 720_000
    assert api.uptime_30d == pytest.approx(1 - 720 / 720_000)
    # Budget (1 − 0.999) × 720 000 = 720 bad requests: all of it spent, none left.
    assert api.budget_consumed == pytest.approx(1.0)
    assert api.budget_left == pytest.approx(0.0, abs=1e-9)
    # Last hour from minutes: 59 × 16 + 56 = 1 000 requests, 1 bad → 0.1 % ÷ 0.1 % = 1.
    assert api.burn_rate["1h"] == pytest.approx(1.0)
    assert api.burn_rate["3d"] == pytest.approx(1.0)
    # Last 5 minutes: 16 requests a minute, none bad, P95 120 ms.
    assert api.rps == pytest.approx(16 / 60)
    assert api.error_rate == 0
    assert api.p95_ms == pytest.approx(120)
    # 720 hours, one in ten at 250 ms over the 200 ms SLO: 72 bad hours.
    assert api.latency_ok_30d == pytest.approx(648 / 720)
    assert api.status == "healthy"


def test_burn_rates_over_each_window(production):
    _seed(production, days=30)
    # Every minute from 6 h to 1 h ago fails once: 300 bad where there were 5.
    HealthSample.objects.filter(
        resolution="minute", time__gte=NOW - timedelta(hours=6), time__lt=NOW - timedelta(hours=1)
    ).update(errors_5xx=1)

    rates = readings.service_figures(production, NOW)["api-server"].burn_rate

    # Each hour holds 1 000 requests; the budget allows 0.1 % of them to fail.
    assert rates["1h"] == pytest.approx((1 / 1000) / 0.001)
    assert rates["6h"] == pytest.approx((301 / 6000) / 0.001)
    assert rates["1d"] == pytest.approx((319 / 24_000) / 0.001)
    assert rates["3d"] == pytest.approx((367 / 72_000) / 0.001)


def test_a_spent_budget_is_a_breach_and_a_fast_burn_is_a_warning(production):
    _seed(production, days=30)
    HealthSample.objects.filter(resolution="hour", time=NOW - timedelta(hours=2)).update(
        errors_5xx=400
    )
    HealthSample.objects.filter(resolution="minute", time__gte=NOW - timedelta(minutes=30)).update(
        errors_5xx=2
    )

    api = readings.service_figures(production, NOW)["api-server"]

    assert api.budget_left < 0
    assert api.status == "SLO breached"
    assert "below the 99.90% target" in api.status_reason


def test_burning_budget_when_the_last_hour_burns_faster_than_allowed(staging):
    _seed(staging, days=30)
    HealthSample.objects.filter(resolution="minute", time__gte=NOW - timedelta(minutes=20)).update(
        errors_5xx=3
    )

    api = readings.service_figures(staging, NOW)["api-server"]

    # Staging's 95 % target leaves a 5 % budget; 60 bad of 1 000 in the last hour = 1.2×.
    assert api.burn_rate["1h"] == pytest.approx((61 / 1000) / 0.05, rel=0.01)
    assert api.status == "burning budget"


def test_no_samples_means_no_data_and_no_pass_means_stale(staging):
    LiveService.objects.create(environment=staging, service="realtime", observed_at=NOW)
    Collection.objects.create(environment=staging, sampled_at=NOW)

    realtime = readings.service_figures(staging, NOW)["realtime"]

    assert realtime.uptime_30d is None and realtime.budget_left is None and realtime.rps is None
    assert set(realtime.burn_rate.values()) == {None}
    assert realtime.status == "no data"
    later = NOW + timedelta(seconds=3 * 60 + 1)
    assert readings.service_figures(staging, later)["realtime"].status == "stale"


def test_the_environment_rolls_up_every_service(production):
    _seed(production, days=30, services=("api-server", "realtime"))

    whole = readings.environment_figures(production, NOW)

    assert whole.requests_30d == 2 * 720_000
    assert whole.uptime_30d == pytest.approx(1 - 720 / 720_000)
    assert whole.rps == pytest.approx(2 * 16 / 60)


def test_a_30_day_chart_reads_at_most_300_buckets_and_keeps_the_totals(production):
    _seed(production, days=30)

    points = readings.series(production, NOW - timedelta(days=30), NOW)["api-server"]

    assert len(points) <= 300
    assert sum(p.requests for p in points) == 720_000
    assert sum(p.errors_5xx for p in points) == 720
    assert points[0].time < points[-1].time
    assert all(100 <= p.p95_ms <= 250 for p in points)


def test_a_one_hour_chart_is_in_minutes(production):
    _seed(production, days=3)

    points = readings.series(production, NOW - timedelta(hours=1), NOW)["api-server"]

    assert len(points) == 60
    assert points[-1].time == NOW - timedelta(minutes=1)
    assert points[-1].rps == pytest.approx(16 / 60)


def test_the_query_count_does_not_grow_with_history_or_services(
    staging, production, django_assert_max_num_queries
):
    _seed(staging, days=3)
    _seed(production, days=90, services=[f"svc-{i}" for i in range(10)])

    with django_assert_max_num_queries(5):
        small = readings.service_figures(staging, NOW)
    with django_assert_max_num_queries(5):
        large = readings.service_figures(production, NOW)

    assert len(small) == 1 and len(large) == 10


def test_just_after_an_hour_the_last_minutes_come_from_the_minutes_there_are(production):
    hour = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    old = _sample(production, "hour", hour - timedelta(hours=1), 360_000, 0)
    old.revision = "old"
    new = [  # the first pass of an install came at 12:02
        _sample(production, "minute", hour + timedelta(minutes=m), 6_000, 300) for m in range(2)
    ]
    for sample in new:
        sample.revision = "new"
    HealthSample.objects.bulk_create([old, *new])
    Collection.objects.create(
        environment=production,
        sampled_at=hour + timedelta(minutes=2),
        minutes_from=hour,
        minutes_until=hour + timedelta(minutes=2),
        hours_until=hour,
    )

    reading = readings.read(production, hour + timedelta(minutes=2, seconds=10))

    api = reading.services["api-server"]
    assert api.error_rate == pytest.approx(0.05)  # not the hour before's 0 %
    assert api.rps == pytest.approx(12_000 / 120)
    assert set(r for _, r in reading.recent_revisions) == {"new"}
