"""Minute samples rolled into hours keep every total; pruning keeps 7 days of minutes
and 90 days of hours."""

from datetime import UTC, datetime, timedelta

from django.db.models import Sum

from monitoring import collect, rollup
from monitoring.models import Collection, HealthSample

HOUR_START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _minute(env, at, service="api-server", revision="api-server-00001", n=100, bad=1, p95=100.0):
    return HealthSample(
        environment=env,
        resolution="minute",
        time=at,
        service=service,
        revision=revision,
        requests=n,
        errors_5xx=bad,
        errors_4xx=2,
        p95_ms=p95,
        p50_ms=p95 / 2,
    )


def _seed_two_hours(env) -> None:
    rows = []
    for i in range(120):
        at = HOUR_START + timedelta(minutes=i)
        rows.append(_minute(env, at, n=100 + i, bad=i % 3))
        if i % 2:  # a canary serving every other minute
            rows.append(_minute(env, at, revision="api-server-00002", n=10, bad=1, p95=300.0))
    HealthSample.objects.bulk_create(rows)


def _sums(rows):
    return rows.aggregate(n=Sum("requests"), bad=Sum("errors_5xx"), client=Sum("errors_4xx"))


def test_rolling_minutes_into_hours_keeps_every_total(staging):
    _seed_two_hours(staging)

    written = rollup.roll_hours(staging, HOUR_START, HOUR_START + timedelta(hours=2))

    hours = HealthSample.objects.filter(environment=staging, resolution="hour")
    minutes = HealthSample.objects.filter(environment=staging, resolution="minute")
    assert written == 4  # two revisions × two hours
    assert _sums(hours) == _sums(minutes)
    for revision in ("api-server-00001", "api-server-00002"):
        for hour in (HOUR_START, HOUR_START + timedelta(hours=1)):
            one_hour = minutes.filter(
                revision=revision, time__gte=hour, time__lt=hour + timedelta(hours=1)
            )
            assert _sums(hours.filter(revision=revision, time=hour)) == _sums(one_hour)


def test_an_hours_p95_is_the_request_weighted_mean_of_its_minutes(staging):
    HealthSample.objects.bulk_create(
        [
            _minute(staging, HOUR_START, n=300, p95=100.0),
            _minute(staging, HOUR_START + timedelta(minutes=1), n=100, p95=200.0),
        ]
    )

    rollup.roll_hours(staging, HOUR_START, HOUR_START + timedelta(hours=1))

    hour = HealthSample.objects.get(environment=staging, resolution="hour")
    assert hour.p95_ms == (300 * 100.0 + 100 * 200.0) / 400  # 125.0
    assert hour.p50_ms == 62.5


def test_rolling_an_hour_again_replaces_it(staging):
    _seed_two_hours(staging)
    window = (HOUR_START, HOUR_START + timedelta(hours=2))
    rollup.roll_hours(staging, *window)

    rollup.roll_hours(staging, *window)

    hours = HealthSample.objects.filter(environment=staging, resolution="hour")
    assert hours.count() == 4
    assert _sums(hours)["n"] == sum(100 + i for i in range(120)) + 60 * 10


def test_pruning_keeps_seven_days_of_minutes_and_ninety_days_of_hours(staging, production):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    ages = [timedelta(days=d) for d in (1, 6, 8, 30, 89, 91)]
    rows = [_minute(staging, now - age) for age in ages]
    for row in [_minute(production, now - age) for age in ages]:
        row.resolution = "hour"
        rows.append(row)
    HealthSample.objects.bulk_create(rows)
    Collection.objects.create(environment=staging, minutes_from=now - timedelta(days=8))

    deleted = collect.prune(now)

    def kept(env, resolution):
        rows = HealthSample.objects.filter(environment=env, resolution=resolution)
        return sorted((now - t).days for t in rows.values_list("time", flat=True))

    assert deleted == {"minute": 4, "hour": 1}
    assert kept(staging, "minute") == [1, 6]
    assert kept(production, "hour") == [1, 6, 8, 30, 89]
    # Hours are no longer rolled up from minutes that are gone.
    assert Collection.objects.get(environment=staging).minutes_from == now - timedelta(days=7)
