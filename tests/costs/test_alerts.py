"""Budget alerts: the actual month to date and the forecast (complete days only) reaching
50 %, 90 % and 100 % of an environment's target are posted to its Slack channel, audited
and listed on the Costs page, once per crossing per invoice month; a new month fires
again. The check runs after an import and a pull, daily, and from check_cost_alerts."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
from datetime import date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from costs import pull, services
from costs.bq_rows import PACIFIC
from costs.importer import import_file
from costs.models import CostAlert, CostTarget
from platform_admin.models import AuditEvent
from tests.costs.conftest import delivered, export_row
from tests.deployments.conftest import gcp, redis_conn, sandbox_server, slack  # noqa: F401

pytestmark = pytest.mark.django_db
STAGING = {"env": "staging", "app": "api-server"}


def _rows(month: str, days, cost: str, labels=STAGING) -> list[dict]:
    return [
        export_row(
            cost, month=month.replace("-", ""), start=f"{month}-{d:02d} 20:00:00 UTC", labels=labels
        )
        for d in days
    ]


def _check(month: str, today: date, capture) -> list[CostAlert]:
    with capture(execute=True):
        return services.check_alerts([month], today)


def _budget(env, month) -> set[tuple[str, int]]:
    return set(
        CostAlert.objects.filter(kind="budget", environment=env, invoice_month=month).values_list(
            "measure", "threshold"
        )
    )


def test_the_forecast_crossing_the_target_posts_once_with_the_figures(
    staging, write_export, slack, redis_conn, django_capture_on_commit_callbacks
):
    # Ten complete days of 10.00, the 11th still filling up: actual 103.00 (34 % of 300),
    # forecast 100 + 10 × 21 days = 310.00 (103 %).
    import_file(
        write_export(_rows("2025-03", range(1, 11), "10.00") + _rows("2025-03", [11], "3.00"))
    )

    fired = _check("2025-03", date(2025, 3, 12), django_capture_on_commit_callbacks)

    assert _budget(staging, "2025-03") == {("forecast", 50), ("forecast", 90), ("forecast", 100)}
    assert len(fired) == 3
    [text] = delivered(slack)
    assert text.startswith("💸 staging: the forecast of 2025-03 is $310.00, 103% of the $300.00")
    assert "crossed 100% (and 50%, 90%)" in text and "/costs/?month=2025-03&env=staging" in text
    [event] = AuditEvent.objects.filter(action="costs.alert")
    assert event.environment == "staging"
    assert event.detail["measure"] == "forecast" and event.detail["thresholds"] == [50, 90, 100]
    assert event.detail["amount"] == "310.000000000" and event.detail["target"] == "300.00"

    again = _check("2025-03", date(2025, 3, 12), django_capture_on_commit_callbacks)

    assert again == [] and delivered(slack) == [text]  # nothing new: nothing posted again
    assert AuditEvent.objects.filter(action="costs.alert").count() == 1


def test_each_threshold_of_the_actual_fires_once_as_the_month_climbs(
    staging, write_export, slack, redis_conn, django_capture_on_commit_callbacks
):
    closed = date(2025, 5, 1)  # March is closed: its forecast is its actual, not alerted apart
    steps = [("160.00", 50), ("120.00", 90), ("30.00", 100)]  # 160, 280, 310 of 300
    for day, (cost, threshold) in enumerate(steps, start=1):
        import_file(write_export(_rows("2025-03", [day], cost), name=f"{day}.jsonl"))
        fired = _check("2025-03", closed, django_capture_on_commit_callbacks)
        assert [(a.measure, a.threshold) for a in fired] == [("actual", threshold)]

    texts = delivered(slack)
    assert len(texts) == 3
    assert "the actual month to date of 2025-03 is $160.00, 53% of the $300.00 target" in texts[0]
    assert "crossed 90%" in texts[1] and "crossed 100%" in texts[2]
    assert _budget(staging, "2025-03") == {("actual", 50), ("actual", 90), ("actual", 100)}


def test_a_new_month_fires_again_and_a_finance_target_counts(
    staging, write_export, slack, redis_conn, django_capture_on_commit_callbacks
):
    import_file(write_export(_rows("2025-03", [1], "200.00")))
    _check("2025-03", date(2025, 4, 10), django_capture_on_commit_callbacks)
    CostTarget.objects.create(environment=staging, amount=Decimal("100"))  # the page's target
    import_file(write_export(_rows("2025-04", [1], "60.00"), name="april.jsonl"))

    _check("2025-04", date(2025, 5, 10), django_capture_on_commit_callbacks)

    assert _budget(staging, "2025-03") == {("actual", 50)}  # 200 of the file's 300
    assert _budget(staging, "2025-04") == {("actual", 50)}  # 60 of finance's 100
    march, april = delivered(slack)
    assert "$200.00, 67% of the $300.00 target" in march
    assert "2025-04 is $60.00, 60% of the $100.00 target" in april


def test_the_costs_page_lists_the_months_alerts(
    client, carol, staging, write_export, django_capture_on_commit_callbacks
):
    import_file(write_export(_rows("2025-03", [1], "280.00")))
    _check("2025-03", date(2025, 4, 10), django_capture_on_commit_callbacks)
    client.force_login(carol)

    page = client.get("/costs/?month=2025-03").content.decode()
    other = client.get("/costs/?month=2025-02").content.decode()

    listed = page.split("Alerts of 2025-03")[1].split("</table>")[0]
    assert 'data-threshold="90" data-measure="actual"' in listed
    assert "Actual month to date reached 90% of the target" in listed
    assert "$280.00, 93% of the $300.00 target" in listed
    assert "No alerts this month" in other.split("Alerts of 2025-02")[1]


def test_the_command_checks_a_month_and_says_what_fired(staging, write_export):
    import_file(write_export(_rows("2025-03", [1], "310.00")))
    out = StringIO()

    call_command("check_cost_alerts", "--month", "2025-03", stdout=out)
    call_command("check_cost_alerts", "--month", "2025-03", stdout=out)

    printed = out.getvalue().splitlines()
    assert printed[0].startswith("💸 staging: the actual month to date of 2025-03 is $310.00")
    assert printed[1:] == ["3 new alerts.", "0 new alerts."]


def test_the_daily_check_is_a_periodic_job_on_the_billing_queue(settings):
    jobs = {job["func"]: job for job in settings.PERIODIC_JOBS}
    assert jobs["costs.jobs.check_cost_alerts"]["queue"] == "billing"
    assert jobs["costs.jobs.check_cost_alerts"]["cron"]


def _this_month_rows(cost: str) -> list[dict]:
    today = datetime.now(PACIFIC).date()
    start = f"{today:%Y-%m-%d} 20:00:00 UTC"  # noon or 1 pm of today in US/Pacific
    return [export_row(cost, month=f"{today:%Y%m}", start=start, labels=STAGING)]


def test_an_import_into_the_open_month_checks_its_alerts(
    staging, write_export, slack, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        import_file(write_export(_this_month_rows("400.00")))

    month = f"{datetime.now(PACIFIC):%Y-%m}"
    assert {("actual", 50), ("actual", 90), ("actual", 100)} <= _budget(staging, month)
    assert any(f"the actual month to date of {month} is $400.00" in t for t in delivered(slack))


def test_an_old_months_history_imported_late_alerts_nobody(staging, write_export):
    import_file(write_export(_rows("2024-01", [1], "900.00")))
    assert not CostAlert.objects.exists()


def test_a_pull_of_the_open_month_checks_its_alerts(gcp, staging):
    CostTarget.objects.create(environment=staging, amount=Decimal("0.01"))
    month = f"{datetime.now(PACIFIC):%Y-%m}"

    record = pull.pull_month(month)

    assert record.status == "succeeded"
    assert ("actual", 100) in _budget(staging, month)
