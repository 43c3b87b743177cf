"""The BigQuery pull against the sandbox's BigQuery (the official client over REST): the
month computed by BigQuery equals the same month imported from the export file to the
cent; a pull replaces its month and never doubles; a month never mixes sources."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from costs import pull, report
from costs.models import BillingImport, BillingRow, CostDaily, InvoiceMonth
from platform_admin.models import AuditEvent, PlatformSettings
from tests.costs.conftest import export_row
from tests.costs.test_commands import cents, google_canonical, sandbox_export  # noqa: F401
from tests.deployments.conftest import gcp, sandbox_server  # noqa: F401

MONTH = "2026-10"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_pulled_month_equals_the_same_month_from_the_export_file(gcp, platform, sandbox_export):
    printed = run("pull_billing", "--month", MONTH)

    lines = sandbox_export.read_text().splitlines()
    expected = google_canonical(sandbox_export)
    assert f"{MONTH}: {len(lines)} export rows, net 0.00 -> {cents(expected['total'])}" in printed
    pulled = report.month_report(MONTH)
    assert pulled["total"]["net"] == cents(expected["total"])
    assert pulled["environments"]["staging"]["net"] == cents(expected["by_project"]["acme-staging"])
    assert InvoiceMonth.objects.get(month=MONTH).source == "pull"
    assert AuditEvent.objects.filter(action="billing.pulled").count() == 1

    buckets = _buckets()
    assert any(b[0]["region"] == "global" for b in buckets)  # no region: its location

    # The same month from the file instead, replacing the pull: the very same figures.
    printed = run("import_billing", str(sandbox_export), "--replace-months")
    assert f"{len(lines)} new" in printed
    assert report.month_report(MONTH) == pulled
    assert _buckets() == buckets  # every daily bucket, keys and sums
    assert InvoiceMonth.objects.get(month=MONTH).source == "file"
    assert AuditEvent.objects.filter(action="billing.months_replaced").count() == 1


def _buckets() -> list[tuple]:
    fields = [f.name for f in CostDaily._meta.fields if f.name not in ("id", "last_import")]
    rows = CostDaily.objects.filter(invoice_month=MONTH).values(*fields)
    return sorted(((r, r.pop("key_hash")) for r in rows), key=lambda pair: pair[1])


def test_pulling_again_replaces_the_month_and_never_doubles(gcp, platform):
    first = pull.pull_month(MONTH)
    buckets = CostDaily.objects.filter(invoice_month=MONTH).count()

    second = pull.pull_month(MONTH)

    assert second.status == "succeeded" and second.rows_read == first.rows_read
    assert CostDaily.objects.filter(invoice_month=MONTH).count() == buckets
    after = second.months[MONTH]
    assert after["before"] == after["after"] == first.months[MONTH]["after"]


def test_a_file_into_a_pulled_month_is_refused_and_changes_nothing(gcp, platform, sandbox_export):
    pull.pull_month(MONTH)
    before = report.month_report(MONTH)

    with pytest.raises(CommandError) as refused:
        run("import_billing", str(sandbox_export))

    message = str(refused.value)
    assert f"fall in {MONTH}, whose figures come from the BigQuery pull" in message
    assert "nothing imported" in message and "--replace-months" in message
    assert report.month_report(MONTH) == before
    assert BillingImport.objects.filter(status="refused").count() == 1


def test_a_file_also_into_a_pulled_month_says_what_replacing_would_do_and_the_other_way(
    gcp, platform, write_export
):
    pull.pull_month(MONTH)
    late = export_row("4.44", month=MONTH.replace("-", ""), start="2026-10-31 12:00:00 UTC")
    path = write_export([export_row("7.00", month="202609", start="2026-09-30 12:00:00 UTC"), late])

    with pytest.raises(CommandError) as refused:
        run("import_billing", str(path))

    assert str(refused.value).endswith(
        f"(import_billing --replace-months), audited, which counts 2026-09 too from this file "
        f"alone. To keep the pull's figures and import the rest, leave the file's rows of "
        f"{MONTH} out"
    )


def test_a_pull_into_a_month_from_files_is_refused_unless_replacing(gcp, platform, sandbox_export):
    run("import_billing", str(sandbox_export))
    before = report.month_report(MONTH)

    with pytest.raises(CommandError):
        run("pull_billing", "--month", MONTH)
    refused = BillingImport.objects.filter(source="pull").get()
    assert "come from BigQuery export files (NDJSON); a pull replaces" in refused.message
    assert f"pull_billing --month {MONTH} --replace" in refused.message
    assert report.month_report(MONTH) == before

    assert "export rows" in run("pull_billing", "--month", MONTH, "--replace")
    assert report.month_report(MONTH) == before  # BigQuery agrees with the file
    assert InvoiceMonth.objects.get(month=MONTH).source == "pull"
    assert not BillingRow.objects.filter(invoice_month=MONTH).exists()  # the files' rows go
    run("pull_billing", "--month", MONTH, "--replace")  # a pulled month: no files replaced
    actions = AuditEvent.objects.filter(action__startswith="billing.pulled").order_by("id")
    assert list(actions.values_list("action", flat=True)) == [
        "billing.pulled_replacing_files",
        "billing.pulled",
    ]


def test_a_pull_into_a_cost_table_month_names_the_cost_table(gcp, platform, tmp_path):
    from costs.importer import import_file

    table = tmp_path / "table.csv"
    table.write_text(
        "Invoice month,2026-10\n\nProject ID,Service description,Cost ($)\n"
        "acme-prod,Cloud Run,10.00\n"
    )
    assert import_file(table).status == "succeeded"

    refused = pull.pull_month(MONTH)

    assert refused.message.startswith(
        f"{MONTH}'s figures come from Cost table CSVs; a pull replaces the whole month"
    )


def test_the_open_months_are_the_current_and_the_previous_until_its_fifth():
    assert pull.open_months(date(2026, 12, 5)) == ["2026-11", "2026-12"]
    assert pull.open_months(date(2026, 12, 6)) == ["2026-12"]
    assert pull.open_months(date(2027, 1, 2)) == ["2026-12", "2027-01"]


def test_the_daily_job_pulls_the_open_months(gcp, platform, settings):
    jobs = {job["func"]: job for job in settings.PERIODIC_JOBS}
    assert jobs["costs.jobs.pull_billing"]["queue"] == "billing"

    outcome = pull.pull_open_months(date(2026, 11, 3))

    assert outcome == {
        "2026-10": "succeeded: " + BillingImport.objects.get(pulled_month="2026-10").message,
        "2026-11": "succeeded: " + BillingImport.objects.get(pulled_month="2026-11").message,
    }
    assert set(InvoiceMonth.objects.values_list("month", flat=True)) == {"2026-10", "2026-11"}


def test_the_daily_job_leaves_an_open_month_from_files_without_a_row_a_day(
    gcp, platform, write_export
):
    from costs.importer import import_file

    import_file(write_export([export_row("4.00", month="202611", start="2026-11-02 12:00:00 UTC")]))
    history = BillingImport.objects.count()

    outcome = pull.pull_open_months(date(2026, 11, 3))

    assert outcome["2026-11"] == "skipped: its figures come from files"
    assert outcome["2026-10"].startswith("succeeded")
    assert BillingImport.objects.count() == history + 1  # October's pull alone
    assert report.month_report("2026-11")["total"]["net"] == "4.00"


def test_a_table_in_another_currency_than_the_accounts_is_refused(gcp, platform):
    """The sandbox's table is in USD; the platform file says EUR."""
    PlatformSettings.objects.update(currency="EUR")

    record = pull.pull_month(MONTH)

    assert record.status == "refused"
    assert record.message == (
        f"BigQuery's rows of {MONTH} are in USD, not the billing account's currency (EUR, "
        "[billing] currency in the platform file) — refused, nothing changed"
    )
    assert not CostDaily.objects.exists() and not InvoiceMonth.objects.exists()


def test_without_an_export_table_the_pull_says_what_to_configure(platform):
    PlatformSettings.objects.update(export_table="")

    with pytest.raises(CommandError):
        run("pull_billing", "--month", MONTH)

    assert "set [billing] export_table" in BillingImport.objects.get().message
    assert pull.pull_open_months(date(2026, 11, 3)) == {
        "(none)": BillingImport.objects.get().message
    }


@pytest.mark.parametrize("month", ["2026-13", "202610", "", "Oct 2026"])
def test_pull_billing_refuses_a_malformed_month_before_recording_a_pull(platform, month):
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=f"'{month}' is not a month like 2026-10 — nothing"):
        run("pull_billing", "--month", month)
    assert not BillingImport.objects.exists() and AuditEvent.objects.count() == events


def test_a_month_not_begun_is_not_pulled_nor_claimed(platform):
    """A pull of it would find no rows and claim the month, refusing its files later."""
    from datetime import timedelta

    later = pull.today().replace(day=28) + timedelta(days=5)
    with pytest.raises(CommandError, match=f"{later:%Y-%m} has not begun .* nothing pulled"):
        run("pull_billing", "--month", f"{later:%Y-%m}")
    record = pull.pull_month(f"{later:%Y-%m}")
    assert record.status == "refused" and "has not begun" in record.message
    assert not InvoiceMonth.objects.exists()


def test_a_malformed_month_is_refused(platform):
    record = pull.pull_month("2026-13")
    assert record.status == "refused" and "not a month like 2026-10" in record.message
    assert json.dumps(record.months) == "{}"


def _group(labels: str, cost: str, **fields) -> dict:
    """One group of the rollup query's result, as the BigQuery client returns it."""
    return {
        "usage_date": date(2026, 10, 5),
        "invoice_month": "202610",
        "project_id": "acme-prod",
        "labels_json": labels,
        "service_id": "SVC",
        "service_description": "Cloud Run",
        "sku_id": "SKU",
        "sku_description": "CPU",
        "cost_type": "regular",
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "region": "us-central1",
        "usage_unit": "seconds",
        "row_count": 2,
        "gross_cost": cost,
        "credits": "-1",
        "usage_amount": "10",
        **fields,
    }


def test_groups_bigquery_keeps_apart_but_one_bucket_holds_add_up_not_replace():
    env_app = '[{"key":"env","value":"prod"},{"key":"app","value":"api"}]'
    app_env = '[{"key":"app","value":"api"},{"key":"env","value":"prod"}]'
    nulls = {"project_id": None, "service_description": None, "cost_type": None}
    empties = {"project_id": "", "service_description": "", "cost_type": "regular"}
    groups = [
        _group(env_app, "100"),
        _group(app_env, "40"),
        _group("[]", "7", **nulls),
        _group("[]", "5", **empties),
    ]
    credits = [{**g, "credit_type": "FREE_TIER", "credit_amount": "-1"} for g in groups]

    sums = pull.month_sums(groups, credits)

    assert len(sums) == 2
    labelled, bare = sorted(sums.values(), key=lambda s: -s["cost"])
    assert labelled["cost"] == 140 * 10**9 and bare["cost"] == 12 * 10**9
    assert labelled["rows"] == bare["rows"] == 4
    assert labelled["credits"] == -2 * 10**9 and labelled["usage"] == 20
    assert labelled["by_type"] == {"FREE_TIER": -2 * 10**9}


def test_a_month_google_fails_does_not_stop_the_other_and_fails_the_daily_job(
    gcp, platform, monkeypatch
):
    """BigQuery rejects the first month's query once: the command and the daily job go
    on with the other month, the errored one is one sentence, and the job fails (RQ
    records it) instead of reporting success."""
    monkeypatch.setattr(pull, "today", lambda: date(2026, 11, 3))  # two open months
    gcp.api_fault(method="POST", path_regex="bigquery", status=400, times=1, message="boom")

    with pytest.raises(CommandError, match="some months were not pulled"):
        run("pull_billing")

    errored = BillingImport.objects.get(pulled_month="2026-10")
    assert errored.status == "errored" and "\n" not in errored.message
    assert errored.message.startswith("BigQuery: BigQuery rejected the query on project")
    assert BillingImport.objects.get(pulled_month="2026-11").status == "succeeded"

    gcp.api_fault(method="POST", path_regex="bigquery", status=400, times=1, message="boom")
    with pytest.raises(pull.PullFailed, match="2026-10: errored: BigQuery"):
        pull.pull_open_months(date(2026, 11, 3))
    assert BillingImport.objects.filter(pulled_month="2026-11", status="succeeded").count() == 2
