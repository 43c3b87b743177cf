"""The 12-month SLO compliance table from SloMonth rows, every service summed."""

from datetime import UTC, date, datetime

import pytest

from monitoring import compliance
from monitoring.models import SloMonth

NOW = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


def _month(env, month, service, requests, bad, hours=0, good=0):
    SloMonth.objects.create(
        environment=env,
        service=service,
        month=month,
        requests=requests,
        errors_5xx=bad,
        latency_buckets=hours,
        latency_good_buckets=good,
    )


def test_each_month_sums_its_services_against_the_target(production):
    _month(production, date(2026, 12, 1), "api-server", 300_000, 60, hours=336, good=330)
    _month(production, date(2026, 12, 1), "realtime", 100_000, 20, hours=336, good=336)
    _month(production, date(2026, 11, 1), "api-server", 1_000_000, 2_000, hours=720, good=700)
    _month(production, date(2025, 12, 1), "api-server", 5, 0)  # 13 months ago: not shown

    rows = compliance.months(production, NOW)

    assert [r.month for r in rows[:3]] == [date(2026, 12, 1), date(2026, 11, 1), date(2026, 10, 1)]
    assert len(rows) == 12 and rows[-1].month == date(2026, 1, 1)
    december, november, october = rows[:3]
    # December to date: 80 bad of 400 000 = 99.98 %, a fifth of its 400-request budget.
    assert december.to_date and december.requests == 400_000
    assert december.availability == pytest.approx(1 - 80 / 400_000)
    assert december.met is True
    assert december.budget_consumed == pytest.approx(80 / 400)
    assert december.latency_ok == pytest.approx(666 / 672)
    # November: 2 000 bad of 1 000 000 = 99.8 % < 99.9 %: missed, the budget spent twice.
    assert not november.to_date and november.met is False
    assert november.budget_consumed == pytest.approx(2.0)
    assert november.latency_ok == pytest.approx(700 / 720)
    # October has no row: no data, never "100 %".
    assert october.requests == 0 and october.availability is None and october.met is None


def test_a_month_of_another_environment_is_not_counted(staging, production):
    _month(staging, date(2026, 12, 1), "api-server", 1_000, 900)
    _month(production, date(2026, 12, 1), "api-server", 1_000, 0)

    assert compliance.months(production, NOW, count=1)[0].availability == 1.0
