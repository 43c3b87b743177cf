"""Availability, error budget and burn rates against a hand computation."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import slo
from monitoring.models import HealthSample

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _seed(env) -> list[HealthSample]:
    """Three days of hourly traffic: 1 000 requests an hour, 1 bad, except the last
    hour (10 bad) and the hour 5 h ago (20 bad)."""
    rows = []
    for hours_ago in range(1, 73):
        bad = {1: 10, 5: 20}.get(hours_ago, 1)
        rows.append(
            HealthSample(
                environment=env,
                resolution="hour",
                time=NOW - timedelta(hours=hours_ago),
                service="api-server",
                revision="api-server-00001",
                requests=1000,
                errors_5xx=bad,
                errors_4xx=50,  # client errors never count against availability
            )
        )
    return HealthSample.objects.bulk_create(rows)


def test_availability_and_error_budget_over_seeded_samples(production):
    _seed(production)
    samples = HealthSample.objects.window(production, "hour", NOW - timedelta(days=3), NOW)

    window = slo.totals(samples)
    budget = slo.error_budget(window, 0.999)

    # By hand: 72 000 requests, 70 × 1 + 10 + 20 = 100 bad.
    assert (window.requests, window.bad) == (72_000, 100)
    assert slo.availability(window) == pytest.approx(1 - 100 / 72_000)
    assert budget.allowed == pytest.approx(72.0)  # (1 − 0.999) × 72 000
    assert budget.consumed == pytest.approx(100 / 72)
    assert budget.left == pytest.approx(1 - 100 / 72)  # overspent: negative


def test_burn_rates_over_one_hour_six_hours_one_day_and_three_days(production):
    samples = _seed(production)

    rates = slo.burn_rates(samples, 0.999, NOW)

    # 1 h: 10/1000 = 1 % errors over a 0.1 % allowance → 10.
    # 6 h: (10 + 20 + 4 × 1)/6000 → 34/6000/0.001 ≈ 5.67.
    # 1 d: (10 + 20 + 22)/24 000 → 52/24 ≈ 2.17.  3 d: 100/72 ≈ 1.39.
    assert rates["1h"] == pytest.approx(10.0)
    assert rates["6h"] == pytest.approx(34 / 6)
    assert rates["1d"] == pytest.approx(52 / 24)
    assert rates["3d"] == pytest.approx(100 / 72)


def test_no_traffic_means_no_data_never_a_division_by_zero():
    empty = slo.totals([])

    assert slo.availability(empty) is None
    assert slo.error_budget(empty, 0.95).consumed is None
    assert slo.error_budget(empty, 0.95).left is None
    assert slo.burn_rates([], 0.95, NOW) == {"1h": None, "6h": None, "1d": None, "3d": None}
    assert slo.describe(slo.availability(empty)) == "no data"


def test_a_target_of_one_hundred_percent_has_no_burn_rate_to_divide_by():
    window = slo.Totals(requests=100, bad=1)

    assert slo.burn_rate(window, 1.0) is None
    assert slo.error_budget(window, 1.0).consumed is None


def test_a_window_within_budget_leaves_the_rest(staging):
    window = slo.Totals(requests=10_000, bad=125)  # staging targets 95 %: 500 may fail

    budget = slo.error_budget(window, staging.slo_uptime)

    assert budget.allowed == pytest.approx(500)
    assert budget.left == pytest.approx(0.75)
    assert slo.burn_rate(window, staging.slo_uptime) == pytest.approx(0.25)
    assert slo.describe(budget.left) == "0.75"
