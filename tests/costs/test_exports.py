"""The month's FOCUS-style CSV and the API's month JSON: the same numbers as
`cost_report`."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import csv
import io
from decimal import Decimal

import pytest

from costs.importer import import_file
from costs.report import month_report
from deployments.tokens import create_token
from tests.costs.conftest import export_row
from tests.deployments.conftest import api_caller

pytestmark = pytest.mark.django_db
STAGING = {"env": "staging", "app": "api-server"}


def _rows():
    return [
        export_row(
            "10.00", labels=STAGING, credits=[("FREE_TIER", "-1.50"), ("PROMOTION", "-0.25")]
        ),
        export_row("2.00", project="acme-prod", start="2026-10-06 07:00:00 UTC"),
        export_row("0.70", project="", service=None, sku=None, cost_type="tax"),
    ]


def test_the_focus_csv_has_its_columns_and_sums_to_the_months_net(
    client, carol, platform, write_export
):
    import_file(write_export(_rows()))
    client.force_login(carol)

    response = client.get("/costs/export.csv?month=2026-10")

    assert response["Content-Disposition"] == 'attachment; filename="costs-2026-10-focus.csv"'
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(table[0])[:8] == [
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "BillingCurrency",
    ]
    assert {"ChargeCategory", "ServiceName", "SkuId", "RegionId", "SubAccountId", "Tags"} <= set(
        table[0]
    )
    billed = sum(Decimal(r["BilledCost"]) for r in table)
    assert f"{billed:.2f}" == month_report("2026-10")["total"]["net"] == "10.95"
    categories = sorted(r["ChargeCategory"] for r in table)
    assert categories == ["Credit", "Credit", "Tax", "Usage", "Usage"]
    staging = next(
        r for r in table if r["x_Environment"] == "staging" and r["ChargeCategory"] == "Usage"
    )
    assert staging["SubAccountId"] == "acme-staging" and staging["x_Component"] == "api-server"
    assert staging["BillingPeriodStart"] == "2026-10-01T07:00:00Z"  # Pacific midnight
    assert '"env":"staging"' in staging["Tags"]
    for month in ("nope", "2026-10%0A"):
        refused = client.get(f"/costs/export.csv?month={month}")
        assert refused.status_code == 400 and b"is not a month like 2026-10" in refused.content
    for month in ("0000-01", "9999-12"):
        refused = client.get(f"/costs/export.csv?month={month}")
        assert refused.status_code == 400
        assert f"'{month}' is outside the years of any export (1970–2999)" in refused.text


def test_the_api_gives_cost_reports_json(client, alice, platform, write_export):
    import_file(write_export(_rows()))
    call = api_caller(client, create_token(alice, "finance-script"))

    body = call("get", "/costs/months/2026-10").json()

    assert body == month_report("2026-10")
    assert body["total"] == {"cost": "12.70", "credits": "-1.75", "net": "10.95"}
    assert call("get", "/costs/months/2030-01").json()["total"]["net"] == "0.00"
    for month in ("2026-13", "2026-10%0A"):
        refused = call("get", f"/costs/months/{month}")
        assert refused.status_code == 400, month
        assert "not a month like 2026-10" in refused.json()["message"]
    refused = call("get", "/costs/months/1969-12")
    assert refused.status_code == 400
    assert refused.json()["message"] == "'1969-12' is outside the years of any export (1970–2999)"
    assert client.get("/api/v1/costs/months/2026-10").status_code == 401


def test_a_carriage_return_in_a_name_stays_inside_its_cell(client, carol, platform, write_export):
    from django.core.management import call_command

    import_file(write_export([export_row("5.00", labels=STAGING, service="\rCR")]))
    client.force_login(carol)

    focus = b"".join(client.get("/costs/export.csv?month=2026-10").streaming_content).decode()
    out = io.StringIO()
    call_command("cost_report", "--month", "2026-10", "--format", "csv", stdout=out)

    services = {row["ServiceName"] for row in csv.DictReader(io.StringIO(focus, newline=""))}
    assert services == {"'\rCR"}  # one line, the formula guard's quote before it
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert [row[3] for row in rows if row[2] == "service"] == ["'\rCR"]


def test_a_bucket_of_credits_alone_is_credit_lines_in_the_csv_not_a_usage_of_zero(
    client, carol, platform, tmp_path
):
    table = tmp_path / "table.csv"
    table.write_text(
        "Invoice month,2026-10\n\nProject ID,Service description,SKU description,Credit type,"
        "Cost ($)\nacme-prod,Cloud Run,CPU,,10.00\nacme-prod,Cloud Run,Requests,Free tier,-1.00\n"
    )
    import_file(table)
    client.force_login(carol)

    response = client.get("/costs/export.csv?month=2026-10")

    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["ChargeCategory"], r["BilledCost"]) for r in lines] == [
        ("Usage", "10"),
        ("Credit", "-1"),
    ]
