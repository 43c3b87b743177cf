"""The console's Cost table CSV: a header block, then the view's columns; detected from
its content, or named with --format; counted exactly once, credits by type, refused
whole with the line and the column."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from costs.importer import import_file
from costs.models import CostDaily
from costs.report import month_report
from platform_admin.models import AuditEvent
from tests.costs.conftest import export_row

pytestmark = pytest.mark.django_db

HEADER = """Billing account name,Acme
Billing account ID,01A2B3-C4D5E6-F7A8B9
Invoice month,October 2026
Currency,USD
Total,"1,234.00"

"""
COLUMNS = (
    "Project name,Project ID,Service description,Service ID,SKU description,SKU ID,"
    "Credit type,Cost type,Usage start date,Usage amount,Usage unit,Cost ($),Unrounded cost ($)\n"
)


def _table(*lines: str) -> str:
    return HEADER + COLUMNS + "".join(line + "\n" for line in lines)


CPU = "Staging,acme-staging,Cloud Run,SVC-RUN,CPU Allocation Time,SKU-CPU"
ROWS = (
    f"{CPU},,Usage,2026-10-05,3600,seconds,10.00,10.004",
    f"{CPU},Free tier,Usage,2026-10-05,,,-1.00,-1.0",
    'Production,acme-prod,Cloud SQL,SVC-SQL,DB,SKU-DB,,Usage,2026-10-06,1,hour,"1,200.50",1200.5',
    'Production,acme-prod,Cloud SQL,SVC-SQL,DB,SKU-DB,,Usage,2026-10-06,1,hour,"1,200.50",1200.5',
    ",,,,,,,Tax,2026-10-31,,,0.70,0.7",
)


def test_a_cost_table_is_detected_and_counted_exactly(platform, tmp_path):
    path = tmp_path / "Acme_Cost table, 2026-10-01 — 2026-10-31.csv"
    path.write_text(_table(*ROWS), encoding="utf-8-sig")

    record = import_file(path)

    assert record.status == "succeeded", record.message
    assert record.format == "cost-table-csv" and record.rows_new == 5
    report = month_report("2026-10")
    assert report["environments"]["staging"] == {"cost": "10.00", "credits": "-1.00", "net": "9.00"}
    # The unrounded cost is used; the two identical lines both count.
    assert report["environments"]["production"]["net"] == "2401.00"
    assert report["environments"]["unallocated"]["net"] == "0.70"
    credit_types = {k for b in CostDaily.objects.all() for k in b.credits_by_type}
    assert credit_types == {"FREE_TIER"}  # "Free tier": the export's name, as the pull's
    assert import_file(path).rows_new == 0  # the same file again adds nothing


def test_the_command_takes_the_format_and_refuses_a_bad_cost_naming_line_and_column(
    platform, tmp_path
):
    path = tmp_path / "costs.csv"
    path.write_text(_table(ROWS[0], ROWS[2].replace('"1,200.50",1200.5', "lots,lots")))

    with pytest.raises(CommandError) as refused:
        call_command("import_billing", str(path), "--format", "cost-table-csv", stdout=StringIO())

    assert 'costs.csv:9: Unrounded cost ($): "lots" is not a number' in str(refused.value)
    assert "nothing imported" in str(refused.value)
    assert not CostDaily.objects.exists()


def test_a_cost_table_without_an_invoice_month_is_refused(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(COLUMNS + ROWS[0] + "\n")

    record = import_file(path, fmt="cost-table-csv")

    assert record.status == "refused"
    assert "costs.csv:2: Invoice month: is missing" in record.message


def test_a_cost_table_and_an_export_of_the_same_month_never_both_count(
    platform, tmp_path, write_export, client, carol
):
    # The same usage twice: as the export's row and as the Cost table's line.
    export = write_export(
        [export_row("10.00", project="acme-staging", start="2026-10-05 07:00:00 UTC")]
    )
    table = tmp_path / "Acme_Cost table.csv"
    table.write_text(_table(ROWS[0]))
    assert import_file(export).status == "succeeded"

    refused = import_file(table)

    assert refused.status == "refused"
    assert refused.message == (
        "Acme_Cost table.csv: its rows fall in 2026-10, whose figures come from BigQuery "
        "export files (NDJSON); a Cost table CSV holds the same usage summed differently, so "
        "importing it would count it twice — refused, nothing imported. To replace the "
        'figures of 2026-10 with this file, import it again with "replace the month" '
        "(import_billing --replace-months), audited"
    )
    assert month_report("2026-10")["total"]["net"] == "10.00"
    # And the reverse, once the month is the Cost table's.
    replaced = import_file(table, replace_months=True)
    assert replaced.status == "succeeded" and replaced.rows_new == 1
    assert month_report("2026-10")["total"]["net"] == "10.00"  # the table's line alone
    event = AuditEvent.objects.get(action="billing.months_replaced")
    assert event.detail["months"] == ["2026-10"] and event.detail["format"] == "cost-table-csv"
    back = import_file(export)
    assert back.status == "refused"
    assert (
        "whose figures come from Cost table CSVs; a BigQuery export file (NDJSON)" in back.message
    )
    # Another Cost table of the month, with lines of its own, adds up.
    more = tmp_path / "more.csv"
    more.write_text(_table(ROWS[2]))
    assert import_file(more).status == "succeeded"
    assert month_report("2026-10")["total"]["net"] == "1210.50"
    client.force_login(carol)
    page = client.get("/costs/?month=2026-10").content.decode()
    assert "Source: imported Cost table CSVs." in page


def _without_unrounded(line: str) -> str:
    return line.rsplit(",", 1)[0]


def test_a_view_without_the_unrounded_cost_counts_the_cost_column_not_cost_type(platform, tmp_path):
    """ "Cost type" comes before "Cost ($)" in the console's columns."""
    path = tmp_path / "costs.csv"
    columns = COLUMNS.replace(",Unrounded cost ($)", "")
    lines = [_without_unrounded(row) for row in ROWS[:1] + ROWS[2:]]
    path.write_text(HEADER + columns + "".join(line + "\n" for line in lines))

    record = import_file(path)

    assert record.status == "succeeded", record.message
    assert month_report("2026-10")["total"]["net"] == "2411.70"  # 10.00 + 2 x 1,200.50 + 0.70


def test_a_sheets_blank_lines_and_total_line_are_not_rows(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(_table(ROWS[0], ",,,,,,,,,,,,", ROWS[4], "Total,,,,,,,,,,,10.70,10.704"))

    record = import_file(path)

    assert (record.status, record.rows_read) == ("succeeded", 2), record.message
    assert month_report("2026-10")["total"]["net"] == "10.70"


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        (
            '"10,51"',
            'Unrounded cost ($): "10,51" is not a number (a comma only separates thousands: '
            "1,234.56)",
        ),
        (
            '"0,500"',
            'Unrounded cost ($): "0,500" is not a number (a comma only separates thousands: '
            "1,234.56)",
        ),
        ("1e3", 'Unrounded cost ($): "1e3" is not a number'),
        ("$10", 'Unrounded cost ($): "$10" is not a number'),
    ],
)
def test_a_cost_written_other_than_as_digits_is_refused_not_misread(
    platform, tmp_path, cost, message
):
    """A decimal comma read as a thousands separator would count 10,51 as 1051."""
    path = tmp_path / "costs.csv"
    path.write_text(_table(ROWS[0], ROWS[4].replace(",0.7", f",{cost}")))

    record = import_file(path)

    assert record.message == f"costs.csv:9: {message} — refused, nothing imported"
    assert not CostDaily.objects.exists()


def test_a_line_with_fewer_cells_than_the_header_is_refused_saying_so(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(_table(ROWS[0], "Staging,acme-staging"))

    record = import_file(path)

    assert record.message == (
        "costs.csv:9: 2 cells where the header names 13 columns (a line cut short, or a quote "
        '(") opening a cell that never closes?) — refused, nothing imported'
    )


def test_a_quoted_cell_holding_a_line_break_is_one_cell_and_later_lines_keep_their_numbers(
    platform, tmp_path
):
    path = tmp_path / "costs.csv"
    two_line_sku = 'Staging,acme-staging,Cloud Run,SVC-RUN,"CPU\r\n(tier 2)",SKU-2'
    path.write_bytes(
        _table(ROWS[0], f"{two_line_sku},,Usage,2026-10-05,,,2.00,2.0", f"{CPU},,Usage").encode()
    )

    record = import_file(path)

    # Line 8 holds the first row, lines 9-10 the second, line 11 is the short one.
    assert record.message.startswith("costs.csv:11: 8 cells where the header names 13 ")
    path.write_bytes(_table(ROWS[0], f"{two_line_sku},,Usage,2026-10-05,,,2.00,2.0").encode())
    record = import_file(path)
    assert record.status == "succeeded", record.message
    assert record.rows_new == 2
    assert month_report("2026-10")["environments"]["staging"]["net"] == "12.00"
    skus = set(CostDaily.objects.values_list("sku_description", flat=True))
    assert skus == {"CPU Allocation Time", "CPU\n(tier 2)"}


def test_a_quote_that_never_closes_and_a_lone_carriage_return_are_refused_naming_the_line(
    platform, tmp_path
):
    path = tmp_path / "costs.csv"
    rest = [f"{CPU},,Usage,2026-10-05,,,1.00,1.0"] * 3000  # more than a cell may hold
    path.write_text(_table(ROWS[0], 'Staging,acme-staging,Cloud Run,SVC-RUN,"CPU', *rest))

    record = import_file(path)

    assert record.message == (
        'costs.csv:9: a cell longer than 131,072 characters (a quote (") opening a cell '
        "here that never closes?) — refused, nothing imported"
    )
    path.write_bytes(_table(ROWS[0], ROWS[1].replace("Free tier", "Free\rtier")).encode())
    record = import_file(path)
    assert record.message == (
        "costs.csv:9: a carriage return (CR) alone inside a line, outside quotes: save the "
        "file with LF or CRLF line ends — refused, nothing imported"
    )
    assert not CostDaily.objects.exists()


def _minimal(columns: str, *lines: str, month: str = "Invoice month,2026-10") -> str:
    return "\n".join([month, "", columns, *lines]) + "\n"


def test_a_line_with_more_filled_cells_than_the_header_is_refused_not_misread(platform, tmp_path):
    path = tmp_path / "costs.csv"
    columns = "Project ID,Service description,Cost ($)"
    path.write_text(_minimal(columns, "acme-prod,Compute Engine,1,234.56", "acme-prod,Run,10.00"))

    record = import_file(path)

    assert record.message == (
        "costs.csv:4: 4 cells where the header names 3 columns (an amount with a thousands "
        "separator outside quotes, 1,234.56?) — refused, nothing imported"
    )
    path.write_text(_minimal(columns, "acme-prod,Compute Engine,1.50,,", "acme-prod,Run,10.00"))
    assert import_file(path).status == "succeeded"  # empty cells after the last: no matter
    assert month_report("2026-10")["total"]["net"] == "11.50"


def test_the_sheets_subtotal_tax_and_total_lines_are_not_rows_but_a_tax_row_is(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(
        _minimal(
            "Project name,Project ID,Service description,Cost ($)",
            "Prod,acme-prod,Compute Engine,100.00",
            "Prod,acme-prod,Cloud Run,20.00",
            ",,Tax,1.20",  # a row of the view: its service is "Tax"
            ",Subtotal,,121.20",
            "Tax,,0.00",
            ",Total,,121.20",
        )
    )

    record = import_file(path)

    assert record.status == "succeeded", record.message
    assert record.rows_read == 3
    report = month_report("2026-10")
    assert report["total"]["net"] == "121.20" and report["services"]["Tax"] == "1.20"


def test_small_views_month_spellings_and_cells_with_angle_brackets_are_read(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(
        _minimal(
            "Service description,Cost ($)",
            "Egress >>,1.00",
            "<<5>>,2.00",
            month="Invoice month,October, 2026",
        )
    )

    record = import_file(path)

    assert record.status == "succeeded", record.message
    services = month_report("2026-10")["services"]
    assert services == {"Egress >>": "1.00", "<<5>>": "2.00"}
    path.write_text(
        _minimal(
            "Project name,Project number,Cost ($)", "Prod,42,3.00", month="Invoice month,Sep 2026"
        )
    )
    assert import_file(path).status == "succeeded"
    assert month_report("2026-09")["total"]["net"] == "3.00"


@pytest.mark.parametrize("month", ["Okt 2026", "October 20260", "October 1969", "2026-13"])
def test_a_bad_header_month_is_named_by_its_own_line(platform, tmp_path, month):
    path = tmp_path / "costs.csv"
    path.write_text(
        _minimal("Service description,Cost ($)", "Cloud Run,1.00", month=f"Invoice month,{month}")
    )

    record = import_file(path)

    assert record.message == (
        f'costs.csv:1: Invoice month: "{month}" is not a month (202610, 2026-10, October '
        "2026) — refused, nothing imported"
    )


def test_a_cost_column_in_another_currency_than_the_accounts_is_refused(platform, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(_minimal("Service description,Cost (€)", "Cloud Run,100.00"))

    record = import_file(path)

    assert record.status == "refused"
    assert record.message.startswith(
        'costs.csv:4: currency: "EUR" is not the billing account\'s currency (USD, '
    )
    assert not CostDaily.objects.exists()


def test_a_newer_download_of_a_months_cost_table_is_refused_unless_it_replaces_the_month(
    platform, tmp_path
):
    columns = "Project ID,Service description,SKU description,Cost ($)"
    mid, full = tmp_path / "ct_mid.csv", tmp_path / "ct_full.csv"
    mid.write_text(
        _minimal(columns, "acme-prod,Compute Engine,Core,500.00", "acme-prod,Run,CPU,20.00")
    )
    full.write_text(
        _minimal(columns, "acme-prod,Compute Engine,Core,1000.00", "acme-prod,Run,CPU,20.00")
    )
    assert import_file(mid).status == "succeeded"

    refused = import_file(full)

    assert refused.message == (
        "ct_full.csv: its rows fall in 2026-10, already counted from a Cost table CSV "
        "(ct_mid.csv) that has other amounts for some of its lines (the same day, project, "
        "service and SKU); a Cost table's lines are totals of the period it covers, so a "
        "newer download's lines whose amounts changed would count twice — refused, nothing "
        'imported. To count 2026-10 from this file instead, import it again with "replace the '
        'month" (import_billing --replace-months), audited'
    )
    assert month_report("2026-10")["total"]["net"] == "520.00"
    assert import_file(mid).rows_new == 0  # the same download again: adds nothing, no refusal

    replaced = import_file(full, replace_months=True)

    assert replaced.status == "succeeded", replaced.message
    assert (replaced.rows_new, replaced.rows_known) == (2, 0)
    assert replaced.months == {
        "2026-10": {"before": "520.00", "after": "1020.00", "replaced": True}
    }
    assert month_report("2026-10")["total"]["net"] == "1020.00"
    assert import_file(full).rows_new == 0 and month_report("2026-10")["total"]["net"] == "1020.00"
    event = AuditEvent.objects.filter(action="billing.months_replaced").get()
    assert event.detail["months"] == ["2026-10"] and event.detail["file_name"] == "ct_full.csv"


def test_cost_tables_of_two_periods_of_a_month_add_up(platform, tmp_path):
    columns = "Project ID,Service description,SKU description,Usage start date,Cost ($)"
    first, second = tmp_path / "ct_a.csv", tmp_path / "ct_b.csv"
    first.write_text(
        _minimal(
            columns,
            "acme-prod,Compute Engine,Core,2026-10-03,500.00",
            "acme-prod,Run,CPU,2026-10-04,20.00",
        )
    )
    second.write_text(_minimal(columns, "acme-prod,Compute Engine,Core,2026-10-20,300.00"))

    assert import_file(first).status == "succeeded"
    record = import_file(second)

    assert record.status == "succeeded", record.message
    assert month_report("2026-10")["total"]["net"] == "820.00"


@pytest.mark.parametrize(
    "footer",
    [
        ["Total (USD),,,120.00"],
        ["Total:,,,120.00"],
        ["Grand total,,,120.00"],
        [",USD,Total,120.00"],
        ["Acme,,Total,120.00"],  # the account's name, as the header block gives it
        ["Subtotal,,,120.00", "Tax (8%),,,0.00", "Total,,,120.00"],
    ],
)
def test_the_sheets_total_lines_in_other_words_are_not_rows(platform, tmp_path, footer):
    path = tmp_path / "costs.csv"
    path.write_text(
        _minimal(
            "Billing account name,Currency,Service description,Cost ($)",
            "Acme,USD,Compute Engine,100.00",
            "Acme,USD,Cloud Run,20.00",
            *footer,
            month="Billing account name,Acme\nInvoice month,2026-10",
        )
    )

    record = import_file(path)

    assert record.status == "succeeded", record.message
    assert record.rows_read == 2 and month_report("2026-10")["total"]["net"] == "120.00"


@pytest.mark.parametrize(
    ("label", "currency_line", "refusal"),
    [
        ("Cost (CA$)", "", 'costs.csv:4: currency: "CAD" is not the billing account'),
        ("Cost (eur)", "", 'costs.csv:4: currency: "EUR" is not the billing account'),
        (
            "Cost (€)",
            "Currency,USD",
            'costs.csv:2: Currency: "USD" is not the currency the column "Cost (€)" names (EUR)',
        ),
        ("Cost ($)", "Currency,usd", None),  # a code in lower case is the same currency
    ],
)
def test_the_currency_a_cost_column_names_is_the_files(
    platform, tmp_path, label, currency_line, refusal
):
    path = tmp_path / "costs.csv"
    month = "Invoice month,2026-10" + (f"\n{currency_line}" if currency_line else "")
    path.write_text(_minimal(f"Service description,{label}", "Cloud Run,100.00", month=month))

    record = import_file(path)

    if refusal is None:
        assert record.status == "succeeded", record.message
    else:
        assert record.message.startswith(refusal), record.message
        assert not CostDaily.objects.exists()


@pytest.mark.parametrize(("separator", "said"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_table_separated_otherwise_than_by_commas_says_so(platform, tmp_path, separator, said):
    path = tmp_path / "costs.csv"
    path.write_text(separator.join(["Service description", "Cost ($)"]) + "\nCloud Run;1.00\n")

    record = import_file(path)

    assert record.message == (
        f"costs.csv: a table separated by {said} (as a spreadsheet saves CSV in some "
        "settings); a Cost table CSV is separated by commas: save it as CSV with commas — "
        "refused, nothing imported"
    )


def test_a_cost_table_of_another_billing_account_is_refused(platform, tmp_path):
    path = tmp_path / "other.csv"
    columns = "Billing account ID,Project ID,Service description,Cost ($)"
    path.write_text(
        _minimal(
            columns,
            "01A2B3-C4D5E6-F7A8B9,acme-prod,Run,10.00",
            "ZZZZZZ-ZZZZZZ-ZZZZZZ,acme-prod,Run,5.00",
        )
    )
    header = tmp_path / "header.csv"
    header.write_text(
        "Billing account ID,ZZZZZZ-ZZZZZZ-ZZZZZZ\n"
        + _minimal("Project ID,Service description,Cost ($)", "acme-prod,Run,5.00")
    )

    assert import_file(path).message == (
        'other.csv:5: Billing account ID: "ZZZZZZ-ZZZZZZ-ZZZZZZ" is not the billing account of '
        "the platform file (01A2B3-C4D5E6-F7A8B9, [billing] account); an export holds one "
        "account's rows — refused, nothing imported"
    )
    assert import_file(header).message.startswith(
        'header.csv:1: Billing account ID: "ZZZZZZ-ZZZZZZ-ZZZZZZ" is not the billing account'
    )
    assert month_report("2026-10")["total"]["net"] == "0.00"


def test_a_cost_tables_credit_types_in_words_are_the_exports_types(platform, tmp_path):
    """The commitments card and credits by type find them as in a pulled month."""
    path = tmp_path / "credits.csv"
    columns = "Project ID,Service description,SKU description,Credit type,Cost ($)"
    path.write_text(
        _minimal(
            columns,
            "acme-prod,Compute Engine,N2 Core,,100.00",
            "acme-prod,Compute Engine,N2 Core,Committed use discount,-60.00",
            "acme-prod,Compute Engine,N2 Core,Sustained use discount,-5.00",
            "acme-prod,Cloud Run,CPU,Committed use discount (dollar based),-3.00",
            "acme-prod,Cloud Run,CPU,Spending based discounts (contractual),-1.00",
        )
    )

    assert import_file(path).status == "succeeded"

    by_type = {}
    for bucket in CostDaily.objects.all():
        for kind, amount in bucket.credits_by_type.items():
            by_type[kind] = by_type.get(kind, 0) + Decimal(amount)
    assert by_type == {
        "COMMITTED_USAGE_DISCOUNT": Decimal("-60"),
        "SUSTAINED_USAGE_DISCOUNT": Decimal("-5"),
        "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": Decimal("-3"),
        "Spending based discounts (contractual)": Decimal("-1"),  # no export type: as written
    }
