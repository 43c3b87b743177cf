"""An environment's SLO figures from the database: minutes where held, hours beyond,
a fixed number of queries however long history is."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import readings
from monitoring.models import Collection, HealthSample

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sample(env, resolution, at, requests, bad):
    return HealthSample(
        environment=env,
        resolution=resolution,
        time=at,
        service="api-server",
        revision="api-server-00001",
        requests=requests,
        errors_5xx=bad,
    )


def _seed(env, days: int) -> None:
    """`days` of hours (1 000 requests, 1 bad each) and the last 3 days in minutes
    too (the same traffic: 1 bad request in each hour's first minute)."""
    rows = [
        _sample(env, "hour", NOW - timedelta(hours=h), 1000, 1) for h in range(1, 24 * days + 1)
    ]
    for m in range(1, 3 * 24 * 60 + 1):
        at = NOW - timedelta(minutes=m)
        first = at.minute == 0  # 16 requests a minute, 56 and the bad one in the first
        rows.append(_sample(env, "minute", at, 56 if first else 16, 1 if first else 0))
    HealthSample.objects.bulk_create(rows)
    Collection.objects.create(
        environment=env, minutes_from=NOW - timedelta(days=3), minutes_until=NOW, hours_until=NOW
    )


def test_thirty_days_come_from_hours_and_burn_rates_from_minutes(production):
    _seed(production, days=45)

    figures = readings.environment_slo(production, NOW)

    # 30 days × 24 hours × 1 000 requests, one bad an hour: 720 bad of 720 000.
    assert figures["requests"] == 720_000
    assert figures["availability"] == pytest.approx(1 - 720 / 720_000)
    assert figures["budget_consumed"] == pytest.approx(720 / (0.001 * 720_000))
    assert figures["burn_rate"]["1h"] == pytest.approx((1 / 1000) / 0.001)
    assert readings.samples_for(production, NOW - timedelta(hours=1), NOW).first().resolution == (
        "minute"
    )
    assert readings.samples_for(production, NOW - timedelta(days=4), NOW).first().resolution == (
        "hour"
    )


def test_no_samples_means_no_data(staging):
    figures = readings.environment_slo(staging, NOW)

    assert figures["availability"] is None and figures["budget_left"] is None
    assert set(figures["burn_rate"].values()) == {None}


def test_the_query_count_does_not_grow_with_history(staging, production):
    _seed(staging, days=3)
    _seed(production, days=90)

    counts = []
    for env in (staging, production):
        with CaptureQueriesContext(connection) as queries:
            readings.environment_slo(env, NOW)
        counts.append(len(queries))

    assert counts[0] == counts[1] <= 10
