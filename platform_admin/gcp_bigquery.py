"""BigQuery: parameterised queries returning plain dicts, and the billing export pull."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

from google.api_core import exceptions as gexc

from platform_admin import gcp

# `project.dataset.table`: table names cannot be query parameters, so they are checked.
# Matched whole (`fullmatch`): `$` would also match before a trailing newline.
TABLE_NAME = re.compile(r"[a-z][a-z0-9.:-]{4,61}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[\w-]{1,1024}")
INVOICE_MONTH = re.compile(r"\d{4}(0[1-9]|1[0-2])")
ROWS_PER_PAGE = 10_000


def _scalar_type(value: object) -> str:
    # Order matters: bool is an int and datetime is a date.
    for kind, name in (
        (bool, "BOOL"),
        (int, "INT64"),
        (float, "FLOAT64"),
        (Decimal, "NUMERIC"),
        (datetime, "TIMESTAMP"),
        (date, "DATE"),
        (str, "STRING"),
    ):
        if isinstance(value, kind):
            return name
    raise gcp.GcpInvalidRequest(f"cannot pass a {type(value).__name__} as a query parameter")


def query_parameters(params: dict[str, object] | None) -> list:
    """ScalarQueryParameter (ArrayQueryParameter for lists) with inferred types."""
    from google.cloud import bigquery

    out = []
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            kind = _scalar_type(value[0]) if value else "STRING"
            out.append(bigquery.ArrayQueryParameter(name, kind, list(value)))
        else:
            out.append(bigquery.ScalarQueryParameter(name, _scalar_type(value), value))
    return out


def _plain(value: object) -> object:
    # The client already gives dicts for RECORDs and lists for REPEATED; copy them so
    # callers never hold the library's Row objects.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@contextmanager
def _rejected(project: str) -> Iterator[None]:
    """A failed job: BigQuery's own message, without the client's job-id decoration."""
    try:
        yield
    except gexc.BadRequest as exc:
        reason = next((e.get("message") for e in exc.errors or [] if e.get("message")), None)
        said = reason or exc.message.split("\n", 1)[0]  # the client adds Location, Job ID
        raise gcp.GcpInvalidRequest(
            f"BigQuery rejected the query on project {project}: {said}"
        ) from exc


def run_query(
    project: str,
    sql: str,
    params: dict[str, object] | None = None,
    timeout: float | None = None,
) -> Iterator[dict]:
    """Run `sql` (with `@name` parameters) as a job billed to `project`; rows as dicts.

    The query runs before this returns, so a query BigQuery rejects raises
    `GcpInvalidRequest` (with BigQuery's message) here, not while iterating.
    """
    from google.cloud import bigquery

    seconds = timeout or gcp.timeout()
    config = bigquery.QueryJobConfig(query_parameters=query_parameters(params))
    with gcp.translate("running a BigQuery query", project, api="bigquery"), _rejected(project):
        job = gcp.bigquery_client(project).query(
            sql,
            job_config=config,
            timeout=gcp.timeout(),
            retry=gcp.retry_policy(),  # jobs.insert carries a client-made job id
            job_retry=None,  # re-running whole failed jobs is our caller's decision
        )
        rows = job.result(timeout=seconds, retry=gcp.retry_policy(seconds), page_size=ROWS_PER_PAGE)
    return _rows(iter(rows), project)


def _rows(iterator, project: str) -> Iterator[dict]:
    # Later pages are fetched while the caller iterates, so keep translating errors.
    while True:
        with gcp.translate("reading BigQuery query results", project, api="bigquery"):
            row = next(iterator, None)
        if row is None:
            return
        yield {key: _plain(value) for key, value in row.items()}


def billing_rows(project: str, table: str, invoice_month: str) -> Iterator[dict]:
    """The raw billing-export rows of invoice month `YYYYMM` from `project.dataset.table`."""
    if not TABLE_NAME.fullmatch(table):
        raise gcp.GcpInvalidRequest(
            f"{table!r} is not a BigQuery table name of the form project.dataset.table"
        )
    if not INVOICE_MONTH.fullmatch(invoice_month):
        raise gcp.GcpInvalidRequest(f"invoice month {invoice_month!r} must look like 202610")
    sql = f"SELECT * FROM `{table}` WHERE invoice.month = @invoice_month"  # noqa: S608 - checked
    return run_query(project, sql, {"invoice_month": invoice_month})
