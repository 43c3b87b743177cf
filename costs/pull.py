"""The BigQuery pull: an invoice month's daily rollups computed by BigQuery from the
billing export table, replacing that month's figures whole (the table is the complete
record, so a pull never adds to what a pull left).

Two queries, both aggregated in BigQuery (PostgreSQL never holds a copy of the raw
export): the daily rollup per bucket key with gross cost, credits and row counts, and
the credits by type per the same key. Google is called with no transaction or lock held;
the month is then replaced in one transaction.

A month's figures come from one source: a month that files were imported into is pulled
only when the user asks to replace it (`replace=True`, audited).
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from django.db import transaction

from costs import importer, rollup, running, services
from costs.attribution import Attributor
from costs.bq_rows import RowKey
from costs.models import (
    BillingImport,
    BillingRow,
    CostDaily,
    ImportSource,
    ImportStatus,
    InvoiceMonth,
)
from costs.money import cents, to_nanos
from costs.month import open_months, today
from costs.report import is_month, not_a_month
from platform_admin import audit, gcp, gcp_bigquery
from platform_admin.models import PlatformSettings

# Every rollup key of `costs.bq_rows.RowKey`, as BigQuery computes it (the region as a
# file's row gives it: its region, else its location). Each amount is cast to NUMERIC
# before it is summed, as a file's rows are read: exact to the nano, never a float sum.
KEYS = """
  DATE(usage_start_time, "America/Los_Angeles") AS usage_date,
  invoice.month AS invoice_month,
  project.id AS project_id,
  TO_JSON_STRING(labels) AS labels_json,
  service.id AS service_id,
  service.description AS service_description,
  sku.id AS sku_id,
  sku.description AS sku_description,
  cost_type,
  currency,
  currency_conversion_rate,
  COALESCE(NULLIF(location.region, ''), location.location) AS region,
  usage.unit AS usage_unit"""
GROUP_BY = """usage_date, invoice_month, project_id, labels_json, service_id,
  service_description, sku_id, sku_description, cost_type, currency,
  currency_conversion_rate, region, usage_unit"""
ROLLUP_SQL = f"""SELECT{KEYS},
  SUM(CAST(usage.amount AS NUMERIC)) AS usage_amount,
  SUM(CAST(cost AS NUMERIC)) AS gross_cost,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) c), 0)) AS credits,
  COUNT(*) AS row_count
FROM `{{table}}`
WHERE invoice.month = @invoice_month
GROUP BY {GROUP_BY}"""  # noqa: S608 - constants; the table name is checked before use
CREDITS_SQL = f"""SELECT{KEYS},
  c.type AS credit_type,
  SUM(CAST(c.amount AS NUMERIC)) AS credit_amount
FROM `{{table}}`, UNNEST(credits) AS c
WHERE invoice.month = @invoice_month
GROUP BY {GROUP_BY}, credit_type"""  # noqa: S608


class PullRefused(Exception):
    """The pull cannot run as asked (configuration, or a month from files)."""


@dataclass(frozen=True)
class Source:
    table: str
    project: str


def source() -> Source:
    settings_row = PlatformSettings.load()
    if not settings_row.export_table:
        raise PullRefused(
            "no BigQuery export table configured: set [billing] export_table and "
            "query_project in the platform file, then run sync_platform"
        )
    return Source(settings_row.export_table, settings_row.query_project)


def pull_month(month: str, *, actor=None, replace: bool = False) -> BillingImport:
    """Replace invoice month YYYY-MM with what BigQuery computes from the export.
    Returns the import record (succeeded, or refused with the sentence); a Google error
    or a crash is recorded as errored and re-raised, an interruption as stopped."""
    record = BillingImport.objects.create(
        source=ImportSource.PULL,
        pulled_month=month,
        created_by=actor if getattr(actor, "pk", None) else None,
        actor=audit._actor_name(actor),
        status=ImportStatus.QUEUED,  # running once its process holds it
        replace_months=replace,
        client_ip=audit.current_ip(),
    )
    with running.holding(record):
        BillingImport.objects.filter(pk=record.pk).update(status=ImportStatus.RUNNING)
        record.status = ImportStatus.RUNNING
        _pull(record, month, actor, replace)
    return record


def month_problem(month: str) -> str | None:
    """Why `month` cannot be pulled (malformed, or not begun), or None."""
    if not is_month(month):
        return not_a_month(month)
    day = today()
    if month > f"{day:%Y-%m}":
        return f"{month} has not begun (today is {day} in US/Pacific): nothing to pull yet"
    return None


def _pull(record: BillingImport, month: str, actor, replace: bool) -> None:
    try:
        if problem := month_problem(month):
            raise PullRefused(problem)
        where = source()
        _check_source(month, replace)
        sums = fetch(where, month)  # Google: no transaction held
        _check_currency(month, sums)
        with transaction.atomic():
            importer.lock()
            _check_source(month, replace)  # again, under the lock
            _replace(record, month, sums, actor)
        services.check_after_import([month])
    except PullRefused as exc:
        importer.finish(record, ImportStatus.REFUSED, str(exc))
        audit.record("billing.pull_refused", actor=actor, obj=record, detail=_detail(record))
    except gcp.GcpError as exc:
        importer.finish(record, ImportStatus.ERRORED, f"BigQuery: {exc}")
        audit.record("billing.pull_errored", actor=actor, obj=record, detail=_detail(record))
        exc.billing_import = record  # which pull it ended
        raise
    except Exception as exc:
        importer.failed(record, exc, actor)
        raise
    except BaseException:  # interrupted (Ctrl-C, SystemExit): the process is ending
        running.stopped(record)
        raise


def _check_currency(month: str, sums: dict[RowKey, dict]) -> None:
    """USD and EUR added up would be neither: the table must be the account's."""
    currency = PlatformSettings.load().currency
    other = sorted({key.currency for key in sums} - {currency})
    if other:
        raise PullRefused(
            f"BigQuery's rows of {month} are in {', '.join(other)}, not the billing account's "
            f"currency ({currency}, [billing] currency in the platform file) — refused, "
            "nothing changed"
        )


def _check_source(month: str, replace: bool) -> None:
    held = InvoiceMonth.objects.filter(month=month).first()
    if held is not None and held.source == ImportSource.FILE and not replace:
        files = importer.FILE_FORMATS.get(held.file_format, ("", "imported files"))[1]
        raise PullRefused(
            f"{month}'s figures come from {files}; a pull replaces the whole "
            f"month, files included. To replace them with BigQuery's figures, run "
            f"`pull_billing --month {month} --replace` (audited) — nothing was changed"
        )


def fetch(where: Source, month: str) -> dict[RowKey, dict]:
    """{RowKey: {"rows", "cost", "credits", "usage", "by_type"}} of the month (nanos)."""
    if not gcp_bigquery.TABLE_NAME.fullmatch(where.table):
        raise PullRefused(
            f"{where.table!r} is not a BigQuery table of the form project.dataset.table"
        )
    params = {"invoice_month": month.replace("-", "")}
    return month_sums(
        gcp_bigquery.run_query(where.project, ROLLUP_SQL.format(table=where.table), params),
        gcp_bigquery.run_query(where.project, CREDITS_SQL.format(table=where.table), params),
    )


def month_sums(rollup_rows: Iterable[dict], credit_rows: Iterable[dict]) -> dict[RowKey, dict]:
    """The rollup query's groups and the credits-by-type query's, summed per rollup key.
    Groups BigQuery keeps apart can be one key here (labels in another order, a NULL
    project and an empty one): they add up."""
    sums: dict[RowKey, dict] = {}
    for row in rollup_rows:
        usage = None if row["usage_amount"] is None else Decimal(row["usage_amount"])
        bucket = sums.setdefault(
            _key(row), {"rows": 0, "cost": 0, "credits": 0, "usage": None, "by_type": {}}
        )
        bucket["rows"] += int(row["row_count"])
        bucket["cost"] += to_nanos(Decimal(row["gross_cost"] or 0))
        bucket["credits"] += to_nanos(Decimal(row["credits"] or 0))
        if usage is not None:
            with localcontext(prec=38):  # usage_amount's NUMERIC(38, 9), not 28 digits
                bucket["usage"] = usage + (bucket["usage"] or 0)
    for row in credit_rows:
        bucket = sums.get(_key(row))
        if bucket is not None and row["credit_amount"] is not None:
            kind = row["credit_type"] or "CREDIT_TYPE_UNSPECIFIED"
            bucket["by_type"][kind] = bucket["by_type"].get(kind, 0) + to_nanos(
                Decimal(row["credit_amount"])
            )
    return sums


def _key(row: dict) -> RowKey:
    labels = json.loads(row["labels_json"] or "[]")
    rate = row["currency_conversion_rate"]
    return RowKey(
        usage_day=_day(row["usage_date"]),
        invoice_month=f"{row['invoice_month'][:4]}-{row['invoice_month'][4:]}",
        project_id=row["project_id"] or "",
        labels=tuple(sorted((lab["key"], lab.get("value") or "") for lab in labels)),
        service_id=row["service_id"] or "",
        service_description=row["service_description"] or "",
        sku_id=row["sku_id"] or "",
        sku_description=row["sku_description"] or "",
        cost_type=row["cost_type"] or "regular",
        currency=row["currency"],
        currency_conversion_rate=""
        if rate is None
        else format(Decimal(str(rate)).normalize(), "f"),
        region=row["region"] or "",
        usage_unit=row["usage_unit"] or "",
    )


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _replace(record: BillingImport, month: str, sums: dict[RowKey, dict], actor) -> None:
    before = rollup.month_nets([month])[month]
    CostDaily.objects.filter(invoice_month=month).delete()
    from_files = InvoiceMonth.objects.filter(month=month, source=ImportSource.FILE).exists()
    if from_files:
        BillingRow.objects.filter(invoice_month=month).delete()  # replacing files' rows
    try:
        rollup.add(sums, Attributor())
    except rollup.BucketOverflow as exc:
        raise PullRefused(f"BigQuery's rows of {month}: {exc} — refused, nothing changed") from None
    after = rollup.month_nets([month])[month]
    InvoiceMonth.objects.update_or_create(
        month=month,
        defaults={"source": ImportSource.PULL, "file_format": "", "last_import": record},
    )
    record.rows_read = record.rows_new = sum(s["rows"] for s in sums.values())
    record.months = {month: {"before": cents(before), "after": cents(after)}}
    importer.finish(record, ImportStatus.SUCCEEDED, f"{record.rows_read} export rows in {month}")
    action = "billing.pulled_replacing_files" if from_files else "billing.pulled"
    audit.record(action, actor=actor, obj=record, detail=_detail(record))


def _detail(record: BillingImport) -> dict:
    return {
        "month": record.pulled_month,
        "status": record.status,
        "message": record.message[:500],
        "rows": record.rows_read,
        "months": record.months,
        "replace": record.replace_months,
    }


class PullFailed(Exception):
    """The daily pull could not pull a month (Google failed): RQ records the job failed."""


def pull_open_months(day: date | None = None) -> dict[str, str]:
    """The daily job: re-pull the open invoice months. A month from files is skipped
    without a history row (the import that made it one said the pull would leave it; a
    refusal a day would push the imports out of the history's newest); one failing
    month does not stop the other, and the job fails (PullFailed, after both) when Google
    failed for one."""
    day = day or today()
    try:
        source()
    except PullRefused as exc:  # not configured: files only, nothing to record daily
        return {"(none)": str(exc)}
    outcome = {}
    from_files = set(
        InvoiceMonth.objects.filter(source=ImportSource.FILE).values_list("month", flat=True)
    )
    for month in open_months(day):
        if month in from_files:
            outcome[month] = "skipped: its figures come from files"
            continue
        try:
            record = pull_month(month)
        except gcp.GcpError as exc:
            outcome[month] = f"errored: {exc}"
            continue
        outcome[month] = (
            record.status if not record.message else f"{record.status}: {record.message}"
        )
    errored = {m: said for m, said in outcome.items() if said.startswith("errored")}
    if errored:
        raise PullFailed("; ".join(f"{m}: {said}" for m, said in errored.items()))
    return outcome
