"""SLO months from hourly samples, against a hand computation; months whose first hours
are pruned keep what they had."""

from datetime import UTC, date, datetime, timedelta

from monitoring import slo_months
from monitoring.models import HealthSample, SloMonth

HOUR = timedelta(hours=1)


def _hour(env, at, service, revision, requests, bad, p95):
    HealthSample.objects.create(
        environment=env,
        resolution="hour",
        time=at,
        service=service,
        revision=revision,
        requests=requests,
        errors_5xx=bad,
        p95_ms=p95,
    )


def test_a_month_sums_its_hours_and_judges_each_hours_weighted_p95(production):
    threshold = float(production.slo_p95_ms)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for h in range(3):  # three hours of November, two revisions in the last one
        _hour(production, start + h * HOUR, "api-server", "r1", 1000, 2, threshold - 50)
    _hour(production, start + 2 * HOUR, "api-server", "r2", 3000, 30, threshold + 100)
    _hour(production, start + 5 * HOUR, "realtime", "r1", 500, 0, None)  # no latency
    _hour(production, datetime(2026, 10, 31, 23, tzinfo=UTC), "api-server", "r1", 7, 7, 1.0)
    now = datetime(2026, 11, 20, tzinfo=UTC)

    written = slo_months.refresh(production, start, now, now=now)

    assert written == 2
    api = SloMonth.objects.get(environment=production, service="api-server")
    # 6 000 requests, 36 bad; hour 3's P95 = (1000·(t−50) + 3000·(t+100)) / 4000 = t + 62.5.
    assert (api.month, api.requests, api.errors_5xx) == (date(2026, 11, 1), 6000, 36)
    assert (api.latency_buckets, api.latency_good_buckets) == (3, 2)
    realtime = SloMonth.objects.get(environment=production, service="realtime")
    assert (realtime.requests, realtime.errors_5xx, realtime.latency_buckets) == (500, 0, 0)


def test_refreshing_again_replaces_the_row_and_never_adds(production):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    _hour(production, start, "api-server", "r1", 1000, 1, 10.0)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    slo_months.refresh(production, start, now, now=now)
    _hour(production, start + HOUR, "api-server", "r1", 500, 5, 10.0)

    slo_months.refresh(production, start + HOUR, now, now=now)

    [row] = SloMonth.objects.filter(environment=production)
    assert (row.requests, row.errors_5xx, row.latency_buckets) == (1500, 6, 2)


def test_a_month_older_than_the_hourly_retention_keeps_its_row(production):
    SloMonth.objects.create(
        environment=production,
        service="api-server",
        month=date(2026, 6, 1),
        requests=9,
        errors_5xx=1,
    )
    _hour(production, datetime(2026, 6, 30, 23, tzinfo=UTC), "api-server", "r1", 1, 0, 1.0)
    now = datetime(2026, 9, 15, tzinfo=UTC)  # June's first hours are past the 90 days

    slo_months.refresh(production, datetime(2026, 6, 30, tzinfo=UTC), now, now=now)

    row = SloMonth.objects.get(environment=production, month=date(2026, 6, 1))
    assert (row.requests, row.errors_5xx) == (9, 1)
