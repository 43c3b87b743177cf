"""The Costs page: the month against the targets with a forecast from complete days, per
component, credits by type, the drill-down, unallocated, the import history; a bounded
number of queries however long the history."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from costs import month as figures
from costs.importer import import_file
from costs.models import CostTarget
from tests.costs.conftest import export_row

pytestmark = pytest.mark.django_db
STAGING = {"env": "staging", "app": "api-server"}


def _day(month: str, day: int) -> str:
    return f"{month[:4]}-{month[4:]}-{day:02d} 15:00:00 UTC"  # 07:00 or 08:00 Pacific


def _days(month="202610", days=range(1, 11), cost="10.00", **kw):
    return [export_row(cost, month=month, start=_day(month, d), **kw) for d in days]


def test_the_forecast_is_the_complete_days_plus_their_run_rate(platform, write_export):
    rows = _days(labels=STAGING) + [export_row("3.00", start=_day("202610", 11), labels=STAGING)]
    import_file(write_export(rows))

    month = figures.month_figures("2026-10", today=date(2026, 10, 12))

    staging = next(s for s in month.scopes if s.slug == "staging")
    assert month.newest_day == date(2026, 10, 11)  # still filling up: not complete
    assert month.complete_through == date(2026, 10, 10)
    assert staging.net == Decimal("103.00")
    # 10 complete days of 10.00, then 10.00 a day for the 21 days to come.
    assert staging.forecast == Decimal("310.00")
    assert staging.target == Decimal("300") and staging.status == figures.AT_RISK
    assert "21 days to come" in month.method


def test_over_on_track_and_a_closed_month(platform, write_export):
    import_file(write_export(_days(cost="40.00", labels=STAGING)))
    CostTarget.objects.create(environment=platform["production"], amount=Decimal("50"))
    import_file(
        write_export(
            _days(days=range(1, 3), labels={"env": "production"}, cost="1.00"), name="b.jsonl"
        )
    )

    month = figures.month_figures("2026-10", today=date(2026, 11, 20))

    staging, production, unallocated = month.scopes
    assert month.closed and staging.forecast == staging.net == Decimal("400.00")
    assert staging.status == figures.OVER  # 400 against 300
    assert production.target == Decimal("50") and production.status == figures.ON_TRACK
    assert unallocated.slug == "unallocated" and unallocated.status == figures.NO_TARGET


def test_the_page_shows_figures_components_credits_and_the_history(
    client, carol, platform, write_export
):
    rows = _days(labels=STAGING, credits=[("FREE_TIER", "-1.00")]) + [
        export_row("7.00", project="", service=None, sku=None, start=_day("202610", 3))  # tax
    ]
    import_file(write_export(rows, name="october.jsonl"), actor=carol)
    client.force_login(carol)

    page = client.get("/costs/?month=2026-10").content.decode()

    staging = page.split('data-scope="staging"')[1].split("</tr>")[0]
    assert "300.00" in staging and "90.00" in staging  # target; 10 × (10 − 1)
    assert "-10.00" in staging  # its credits
    unallocated = page.split('data-scope="unallocated"')[1].split("</tr>")[0]
    assert "7.00" in unallocated
    assert 'data-component="api-server"' in page
    assert 'data-credit="FREE_TIER"' in page.split("Credits by type")[1]
    history = page.split("Import history")[1]
    assert "october.jsonl" in history and "carol" in history and "11 / 11 / 0" in history
    assert "<svg" in page.split("Daily cost")[1]


def test_the_drill_down_goes_environment_component_service_sku(
    client, carol, platform, write_export
):
    import_file(
        write_export(
            _days(labels=STAGING, sku="CPU Allocation Time")
            + _days(labels=STAGING, sku="Memory Allocation Time", cost="5.00")
        )
    )
    client.force_login(carol)
    base = "/costs/?month=2026-10&env=staging"

    components = client.get(base).content.decode().split("Drill down")[1]
    services = client.get(base + "&path=api-server").content.decode().split("Drill down")[1]
    skus = client.get(base + "&path=api-server&path=Cloud+Run").content.decode()

    assert 'data-item="api-server"' in components and "150.00" in components
    assert 'data-item="Cloud Run"' in services
    skus = skus.split("Drill down")[1]
    cpu = skus.split('data-item="CPU Allocation Time"')[1].split("</tr>")[0]
    assert "100.00" in cpu and "66.7%" in cpu
    missing = client.get("/costs/?env=nowhere")
    assert missing.status_code == 404 and "No environment nowhere." in missing.content.decode()


def test_credits_by_type_are_the_drilled_environments_own(client, carol, platform, write_export):
    staging = export_row("10.00", labels=STAGING, credits=[("FREE_TIER", "-1.50")])
    production = export_row(
        "20.00", project="acme-prod", credits=[("COMMITTED_USAGE_DISCOUNT", "-4.00")]
    )
    import_file(write_export([staging, production]))
    client.force_login(carol)

    def credits(query: str) -> str:
        page = client.get(f"/costs/?month=2026-10{query}").content.decode()
        return page.split("<h2>Credits by type")[1].split("</section>")[0]

    everything = credits("")
    assert 'data-credit="FREE_TIER"' in everything and "COMMITTED_USAGE_DISCOUNT" in everything
    mine = credits("&env=staging")
    assert mine.startswith(" · Staging</h2>")
    assert 'data-credit="FREE_TIER"' in mine and "-1.50" in mine
    assert "COMMITTED_USAGE_DISCOUNT" not in mine


@pytest.mark.parametrize(
    "month", ["2026-13", "0000-01", "9999-12", "2026-10%0A", "2026-10%20", "２０２６-10"]
)
def test_a_malformed_month_says_so_and_shows_this_month(client, carol, platform, month):
    """Years outside 1970-2999 too (a year 0 or a month after 9999-12 has no dates), and a
    month with anything around it."""
    client.force_login(carol)
    response = client.get(f"/costs/?month={month}")
    assert response.status_code == 200
    said = (
        "is outside the years of any export (1970–2999)"
        if month in ("0000-01", "9999-12")
        else "is not a month like 2026-10"
    )
    assert f"{said}: showing this month" in response.content.decode()


def test_the_page_query_count_does_not_grow_with_history(client, carol, platform, write_export):
    client.force_login(carol)
    import_file(write_export(_days(month="202610", labels=STAGING)))
    with CaptureQueriesContext(connection) as short:
        assert client.get("/costs/?month=2026-10&env=staging").status_code == 200
    for n, month in enumerate(["202601", "202602", "202603", "202604", "202605", "202609"]):
        import_file(write_export(_days(month=month, labels=STAGING), name=f"{n}.jsonl"))

    with CaptureQueriesContext(connection) as long:
        assert client.get("/costs/?month=2026-10&env=staging").status_code == 200
    assert len(long.captured_queries) == len(short.captured_queries)


def test_the_status_is_judged_in_the_cents_shown(platform, write_export):
    import_file(write_export([export_row("300.004", labels=STAGING)]))

    month = figures.month_figures("2026-10", today=date(2026, 11, 20))

    staging = month.scopes[0]
    assert f"{staging.net:.2f}" == "300.00" and staging.target == Decimal("300")
    assert staging.status == figures.ON_TRACK  # 300.00 of 300.00 is not over


def test_credits_of_a_bucket_netting_to_zero_still_show_by_type(platform, write_export):
    row = export_row("0", labels=STAGING, credits=[("PROMOTION", "-1.0"), ("DISCOUNT", "1.0")])
    import_file(write_export([row, export_row("5", labels=STAGING, sku="other")]))

    month = figures.month_figures("2026-10", today=date(2026, 11, 20))

    assert month.credits_by_type == {"PROMOTION": Decimal("-1"), "DISCOUNT": Decimal("1")}


def test_a_component_target_shows_beside_a_component_with_no_cost_yet(
    client, carol, platform, write_export
):
    import_file(write_export([export_row("5", labels=STAGING)]))
    CostTarget.objects.create(environment=platform["staging"], component="realtime", amount=85)

    month = figures.month_figures("2026-10", today=date(2026, 11, 20))

    components = {c["name"]: c for c in month.scopes[0].components}
    assert components["realtime"]["target"] == Decimal("85")
    assert components["realtime"]["net"] == Decimal("0")
    client.force_login(carol)
    page = client.get("/costs/?month=2026-10").content.decode()
    realtime = page.split('data-scope="staging" data-component="realtime"')[1].split("</tr>")[0]
    assert "85.00" in realtime


def test_the_daily_chart_keeps_refund_days_inside_and_marks_rollouts_on_their_pacific_day(
    client, carol, platform, write_export
):
    from datetime import timedelta

    from costs.bq_rows import PACIFIC
    from platform_admin import audit

    today = figures.today()
    this_month = f"{today:%Y%m}"
    days = [today - timedelta(days=n) for n in (3, 2, 1)]  # early in a month: late usage too
    rows = [
        export_row(cost, labels=STAGING, month=this_month, start=f"{day} 15:00:00 UTC")
        for day, cost in zip(days, ("10.00", "10.00", "-25.00"), strict=True)
    ]
    import_file(write_export(rows))
    event = audit.record("rollout.succeeded", environment="staging", detail={"release": "1.5.0"})
    client.force_login(carol)

    page = client.get(f"/costs/?month={this_month[:4]}-{this_month[4:]}&env=staging")

    chart = page.content.decode().split('<svg class="chart"')[1].split("</svg>")[0]
    went_live = event.created_at.astimezone(PACIFIC)  # the billing day, not UTC's
    assert f"1.5.0 live in staging ({went_live:%b %d})" in chart
    path = chart.split('class="chart-line" d="')[1].split('"')[0]
    ys = [float(point.split(",")[1]) for point in path.replace("M", "").split(" L")]
    assert len(ys) == 3 and all(0 <= y <= 140 for y in ys)  # the refund day is drawn too


def test_a_rollouts_instant_goes_on_its_pacific_day_of_the_chart():
    from datetime import UTC, datetime

    from costs.pages import _on_axis

    # 04:00 UTC on Oct 6 is 21:00 on Oct 5 in Pacific time (PDT).
    assert _on_axis(datetime(2026, 10, 6, 4, tzinfo=UTC)) == datetime(2026, 10, 5, 21, tzinfo=UTC)


def test_a_month_outside_the_picker_stays_picked_and_an_empty_closed_month_is_no_yet(
    client, carol, platform
):
    client.force_login(carol)

    page = client.get("/costs/?month=2023-04").content.decode()

    assert '<option value="2023-04" selected>' in page
    assert "No billing data for 2023-04." in page


def test_a_drill_down_level_of_many_skus_shows_the_largest_and_the_rest_in_one_line(
    client, carol, platform, write_export
):
    rows = [export_row(f"{n}.00", labels=STAGING, sku=f"SKU {n:03d}") for n in range(1, 151)]
    import_file(write_export(rows))

    items = figures.drill("2026-10", platform["staging"], ["api-server", "Cloud Run"])

    assert len(items) == figures.DRILL_ITEMS and items[0]["name"] == "SKU 150"
    rest = items[-1]
    assert rest["name"] == "51 more" and rest["net"] == Decimal(sum(range(1, 52)))
    assert sum(i["net"] for i in items) == Decimal(sum(range(1, 151)))
    client.force_login(carol)
    page = client.get(
        "/costs/?month=2026-10&env=staging&path=api-server&path=Cloud+Run"
    ).content.decode()
    assert '<tr data-item="51 more"><td>51 more</td>' in page


def test_a_component_netting_to_zero_in_an_environment_netting_below_zero_shows_0_share(
    client, carol, platform, write_export
):
    import_file(
        write_export(
            [
                export_row("5.00", labels=STAGING, credits=[("PROMOTION", "-5.00")]),
                export_row(
                    "1.00", labels={**STAGING, "app": "realtime"}, credits=[("PROMOTION", "-3")]
                ),
            ]
        )
    )
    client.force_login(carol)

    page = client.get("/costs/?month=2026-10&env=staging").content.decode()

    zero = page.split("Drill down")[1].split('data-item="api-server"')[1].split("</tr>")[0]
    assert "0.0%" in zero and "-0.0%" not in page


def test_a_component_past_its_target_is_marked_over(client, carol, platform, write_export):
    import_file(
        write_export(
            [
                export_row("17.62", labels=STAGING),
                export_row("3", labels={**STAGING, "app": "agent"}),
            ]
        )
    )
    CostTarget.objects.create(environment=platform["staging"], component="api-server", amount=10)
    CostTarget.objects.create(environment=platform["staging"], component="agent", amount=3)
    client.force_login(carol)

    page = client.get("/costs/?month=2026-10").content.decode()

    over = page.split('data-component="api-server"')[1].split("</tr>")[0]
    at_target = page.split('data-component="agent"')[1].split("</tr>")[0]
    assert 'data-status="over"' in over and 'data-status="over"' not in at_target


def test_alerts_posted_as_one_message_show_it_once(client, carol, platform):
    from costs.models import CostAlert

    said = "staging: the forecast of 2026-10 is $310.00, crossed 100% (and 50%, 90%)"
    for threshold in (50, 90, 100):
        CostAlert.objects.create(
            kind="budget",
            environment=platform["staging"],
            invoice_month="2026-10",
            measure="forecast",
            threshold=threshold,
            amount_nanos=310 * 10**9,
            message=said,
        )
    client.force_login(carol)

    page = client.get("/costs/?month=2026-10").content.decode()

    assert page.count(said) == 1 and page.count("posted as one message with the line above") == 2
