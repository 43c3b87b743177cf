"""`import_billing` and `cost_report` as a person at a terminal uses them, on the
sandbox's generated export."""

import csv
import json
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import EXAMPLE_PLATFORM, REPO
from tests.costs.conftest import export_row

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def sandbox_export(tmp_path_factory):
    """The sandbox's synthetic export of invoice month 2026-10, as `bq extract` writes it."""
    path = tmp_path_factory.mktemp("export") / "export.jsonl"
    with open(path, "wb") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sandbox",
                "export-billing",
                "--platform",
                str(EXAMPLE_PLATFORM),
                "--month",
                "2026-10",
            ],
            cwd=REPO,
            stdout=out,
            check=True,
        )
    return path


def google_canonical(path) -> dict:
    """What Google's canonical query gives per invoice month, and per environment's
    project, computed here from the file with Decimal (CAST AS NUMERIC: 9 places)."""
    totals = {"total": Decimal(0), "cost": Decimal(0), "by_project": {}}
    for line in path.read_text().splitlines():
        row = json.loads(line, parse_float=Decimal)
        assert row["invoice"]["month"] == "202610"
        cost = Decimal(row["cost"])
        credits = sum((Decimal(c["amount"]) for c in row.get("credits") or []), Decimal(0))
        totals["cost"] += cost
        totals["total"] += cost + credits
        project = (row.get("project") or {}).get("id", "")
        totals["by_project"][project] = totals["by_project"].get(project, 0) + cost + credits
    return totals


def cents(amount: Decimal) -> str:
    return str(amount.quantize(CENT, ROUND_HALF_UP))


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sandbox_export_imports_and_cost_report_ties_to_google(platform, sandbox_export):
    printed = run("import_billing", str(sandbox_export))
    lines = sandbox_export.read_text().splitlines()
    assert f"{len(lines)} rows read, {len(lines)} new, 0 already known" in printed
    expected = google_canonical(sandbox_export)
    assert f"invoice month 2026-10: net 0.00 -> {cents(expected['total'])}" in printed

    report = json.loads(run("cost_report", "--month", "2026-10", "--format", "json"))
    assert list(report) == ["month", "currency", "total", "environments", "services"]
    assert report["month"] == "2026-10" and report["currency"] == "USD"
    assert report["total"]["net"] == cents(expected["total"])
    assert report["total"]["cost"] == cents(expected["cost"])
    envs = report["environments"]
    assert list(envs) == ["staging", "production", "unallocated"]
    assert envs["staging"]["net"] == cents(expected["by_project"]["acme-staging"])
    assert envs["production"]["net"] == cents(expected["by_project"]["acme-prod"])
    assert envs["unallocated"]["net"] == cents(expected["by_project"][""])  # the tax row
    assert "(none)" in report["services"] and "Compute Engine" in report["services"]

    again = run("import_billing", str(sandbox_export))
    assert f"{len(lines)} rows read, 0 new, {len(lines)} already known" in again


def test_replacing_a_month_prints_its_rows_as_counted_again(platform, write_export):
    wrong = write_export([export_row("500"), export_row("3")], "wrong.jsonl")
    right = write_export([export_row("3")], "right.jsonl")
    run("import_billing", str(wrong))

    printed = run("import_billing", str(right), "--replace-months")

    assert printed.splitlines() == [
        "right.jsonl: 1 row read, 1 new, 0 already known",
        "  invoice month 2026-10: net 503.00 -> 3.00 (replaced: emptied, then counted from "
        "this file)",
    ]


def test_a_file_into_an_open_month_says_the_daily_pull_now_leaves_it(platform, write_export):
    from costs.month import today

    day = today()
    month = f"{day:%Y-%m}"
    row = export_row("4.00", month=f"{day:%Y%m}", start=f"{day:%Y-%m}-01 12:00:00 UTC")

    printed = run("import_billing", str(write_export([row], "now.jsonl")))
    old = run("import_billing", str(write_export([export_row("1.00")], "october.jsonl")))

    assert printed.splitlines()[-1] == (
        f"  {month} now comes from files: the daily BigQuery pull leaves it (pull_billing "
        f"--month {month} --replace gives it back to the pull)"
    )
    assert "pull" not in old  # a closed month: the pull never fills it again


def test_refused_file_exits_non_zero_with_the_sentence(platform, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cost": 1.0, "invoice": {"month": "202610"}\n')
    with pytest.raises(CommandError, match=r"^bad.jsonl:1: not valid JSON .* nothing imported$"):
        run("import_billing", str(bad))


def test_a_missing_path_a_folder_or_an_empty_file_is_refused_with_a_sentence(platform, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    for path, message in [
        (
            tmp_path / "no.jsonl",
            f"{tmp_path / 'no.jsonl'}: No such file or directory — nothing imported",
        ),
        (tmp_path, f"{tmp_path}: Is a directory — nothing imported"),
        (tmp_path / "empty.jsonl", "empty.jsonl: the file is empty — refused, nothing imported"),
        ("", "give the path of the export file to import — nothing imported"),
    ]:
        with pytest.raises(CommandError) as refused:
            run("import_billing", str(path))
        assert str(refused.value) == message


def test_unknown_month_reports_zeros(platform):
    report = json.loads(run("cost_report", "--month", "2031-01", "--format", "json"))
    zero = {"cost": "0.00", "credits": "0.00", "net": "0.00"}
    assert report["total"] == zero
    assert report["environments"] == {"staging": zero, "production": zero, "unallocated": zero}
    assert report["services"] == {}


def test_csv_and_table_formats_show_the_same_figures(platform, sandbox_export):
    run("import_billing", str(sandbox_export))
    total = json.loads(run("cost_report", "--month", "2026-10", "--format", "json"))["total"]
    csv_lines = run("cost_report", "--month", "2026-10", "--format", "csv").splitlines()
    assert csv_lines[0] == "month,currency,scope,name,cost,credits,net"
    assert csv_lines[1] == f"2026-10,USD,total,,{total['cost']},{total['credits']},{total['net']}"
    table = run("cost_report", "--month", "2026-10", "--format", "table")
    assert total["net"] in table.splitlines()[3]


def test_a_formula_in_an_exports_service_name_is_neutralised_in_the_csv(platform, write_export):
    path = write_export(
        [
            export_row("5.00", service='=HYPERLINK("http://127.0.0.1/x","y")'),
            export_row("-2.50", service="Cloud Run"),
        ]
    )
    run("import_billing", str(path))

    rows = list(
        csv.reader(run("cost_report", "--month", "2026-10", "--format", "csv").splitlines())
    )

    names = {row[3]: row[6] for row in rows if row[2] == "service"}
    assert names == {'\'=HYPERLINK("http://127.0.0.1/x","y")': "5.00", "Cloud Run": "-2.50"}


def test_the_table_keeps_its_columns_apart_whatever_the_amounts(platform, write_export):
    run(
        "import_billing",
        str(write_export([export_row("-9000000000.00", credits=[("X", "-0.001")])])),
    )

    table = run("cost_report", "--month", "2026-10", "--format", "table").splitlines()

    total = table[3].split()
    assert total == ["total", "-9000000000.00", "0.00", "-9000000000.00"]
    assert "1 row read" in run("import_billing", str(write_export([export_row("1")], "one.jsonl")))
