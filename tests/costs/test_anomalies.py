"""The daily anomaly check: a component whose complete day costs more than twice its
trailing 14-day median, and more than COST_ANOMALY_FLOOR, alerts once for that day,
naming the SKU that moved most with its amounts."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import date
from decimal import Decimal

import pytest

from costs import services
from costs.importer import import_file
from costs.models import CostAlert
from platform_admin.models import AuditEvent
from tests.costs.conftest import delivered, export_row
from tests.deployments.conftest import redis_conn, slack  # noqa: F401

pytestmark = pytest.mark.django_db
API = {"env": "staging", "app": "api-server"}
REALTIME = {"env": "staging", "app": "realtime"}
TODAY = date(2025, 3, 23)  # the 22nd is still filling up: complete days through the 21st


def _row(day: int, cost: str, sku="CPU Allocation Time", labels=API) -> dict:
    return export_row(
        cost, month="202503", start=f"2025-03-{day:02d} 20:00:00 UTC", sku=sku, labels=labels
    )


def _month(spike: list[dict], daily="2.00", labels=API) -> list[dict]:
    """20 days of `daily` on CPU, the `spike` rows on the 21st, a partial 22nd."""
    rows = [_row(d, daily, labels=labels) for d in range(1, 21)]
    return rows + spike + [_row(22, "0.50", labels=labels)]


def _check(capture) -> list[CostAlert]:
    with capture(execute=True):
        return [a for a in services.check_alerts(["2025-03"], TODAY) if a.kind == "anomaly"]


def test_a_spike_alerts_once_naming_the_sku_that_moved_most(
    staging, write_export, slack, redis_conn, django_capture_on_commit_callbacks
):
    spike = [_row(21, "2.00"), _row(21, "9.00", sku="Memory Allocation Time")]
    quiet = [_row(d, "3.00", labels=REALTIME) for d in range(1, 22)]
    import_file(write_export(_month(spike) + quiet))

    [alert] = _check(django_capture_on_commit_callbacks)

    assert (alert.component, alert.day, alert.amount) == ("api-server", date(2025, 3, 21), 11)
    assert alert.detail["sku"] == "Memory Allocation Time"
    [text] = [t for t in delivered(slack) if t.startswith("📈")]
    assert text.startswith(
        "📈 staging/api-server: $11.00 on 2025-03-21, 5.5× its 14-day median of $2.00. "
        "Moved most: Memory Allocation Time, $9.00 against its median of $0.00."
    )
    event = AuditEvent.objects.get(action="costs.alert", detail__kind="anomaly")
    assert event.environment == "staging" and event.detail["component"] == "api-server"

    assert _check(django_capture_on_commit_callbacks) == []  # once per component per day
    assert [t for t in delivered(slack) if t.startswith("📈")] == [text]


def test_a_day_under_twice_the_median_is_no_anomaly(
    staging, write_export, django_capture_on_commit_callbacks
):
    import_file(write_export(_month([_row(21, "3.90")])))

    assert _check(django_capture_on_commit_callbacks) == []
    assert not CostAlert.objects.filter(kind="anomaly").exists()


def test_a_spike_under_the_floor_is_no_anomaly_until_the_floor_is_lowered(
    staging, write_export, settings, django_capture_on_commit_callbacks
):
    import_file(write_export(_month([_row(21, "0.90")], daily="0.10")))  # 9× but 0.90

    assert _check(django_capture_on_commit_callbacks) == []

    settings.COST_ANOMALY_FLOOR = Decimal("0.50")
    [alert] = _check(django_capture_on_commit_callbacks)
    assert alert.amount == Decimal("0.9") and alert.detail["median"] == "0.100000000"


def test_too_little_history_judges_nothing(
    staging, write_export, django_capture_on_commit_callbacks
):
    rows = [_row(d, "1.00") for d in range(16, 21)] + [_row(21, "50.00"), _row(22, "1.00")]
    import_file(write_export(rows))  # five days before the spike: no median to trust yet

    assert _check(django_capture_on_commit_callbacks) == []


def test_the_costs_page_lists_the_anomaly(
    client, carol, staging, write_export, django_capture_on_commit_callbacks
):
    import_file(write_export(_month([_row(21, "12.00")])))
    _check(django_capture_on_commit_callbacks)
    client.force_login(carol)

    page = client.get("/costs/?month=2025-03").content.decode()

    listed = page.split("Alerts of 2025-03")[1].split("</table>")[0]
    assert 'data-alert="anomaly"' in listed and 'data-day="2025-03-21"' in listed
    assert "api-server on 2025-03-21: over twice its 14-day median" in listed
    assert "12.00" in listed
