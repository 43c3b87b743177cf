"""BigQuery v2 contract: the official client querying the sandbox's billing export."""

import datetime as dt
from decimal import Decimal

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

TABLE = "`acme-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9`"
RAW = f"SELECT * FROM {TABLE} WHERE invoice.month = @invoice_month"
ROLLUP = f"""
SELECT
  DATE(usage_start_time, "America/Los_Angeles") AS usage_date,
  invoice.month AS invoice_month,
  project.id AS project_id,
  service.description AS service_description,
  sku.id AS sku_id,
  sku.description AS sku_description,
  TO_JSON_STRING(labels) AS labels_json,
  CAST(SUM(cost) AS NUMERIC) AS gross_cost,
  CAST(SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) c), 0)) AS NUMERIC) AS credits,
  COUNT(*) AS row_count
FROM {TABLE}
WHERE invoice.month = @invoice_month
GROUP BY usage_date, invoice_month, project_id, service_description, sku_id, sku_description,
  labels_json
ORDER BY usage_date, project_id, service_description, sku_description
"""
CREDITS_BY_TYPE = f"""
SELECT invoice.month AS invoice_month, project.id AS project_id, c.type AS credit_type,
  CAST(SUM(c.amount) AS NUMERIC) AS amount
FROM {TABLE}, UNNEST(credits) AS c
WHERE invoice.month = @invoice_month
GROUP BY invoice_month, project_id, credit_type
"""


def month_config(month: str = "202610") -> bigquery.QueryJobConfig:
    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("invoice_month", "STRING", month)]
    )


def exact(value: float) -> Decimal:
    return Decimal(repr(value))


def test_raw_rows_decode_nested_repeated_and_timestamp_fields(bq_client):
    rows = list(bq_client.query(RAW, job_config=month_config()).result())
    assert len(rows) > 1000 and {r["invoice"]["month"] for r in rows} == {"202610"}
    regular = next(r for r in rows if r["cost_type"] == "regular" and r["credits"])
    assert regular["usage_start_time"].tzinfo is not None
    assert regular["usage_end_time"] - regular["usage_start_time"] in (
        dt.timedelta(hours=23),
        dt.timedelta(hours=24),
        dt.timedelta(hours=25),
    )
    assert regular["project"]["id"] in ("acme-staging", "acme-prod")
    assert {
        "key": "env",
        "value": regular["project"]["id"].split("-")[1].replace("prod", "production"),
    } in regular["labels"]
    assert all(c["amount"] < 0 and c["type"] for c in regular["credits"])
    tax = [r for r in rows if r["cost_type"] == "tax"]
    assert len(tax) == 1 and tax[0]["project"] is None and tax[0]["service"] is None
    types = {c["type"] for r in rows for c in r["credits"]}
    assert {"FREE_TIER", "SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT"} <= types


def test_late_usage_lands_on_the_next_invoice_month(bq_client):
    rows = list(bq_client.query_and_wait(RAW, job_config=month_config()))
    september = [
        r for r in rows if r["usage_start_time"] < dt.datetime(2026, 10, 1, 7, tzinfo=dt.UTC)
    ]
    assert september and {r["sku"]["description"] for r in september} == {
        "Network Internet Egress from Americas to Americas"
    }
    assert {r["usage_start_time"] for r in september} == {
        dt.datetime(2026, 9, 30, 7, tzinfo=dt.UTC)
    }  # midnight US/Pacific


def test_query_and_wait_pages_through_all_rows(bq_client, sandbox):
    rows = bq_client.query_and_wait(RAW, job_config=month_config(), page_size=500)
    assert len(list(rows)) == len(list(bq_client.query(RAW, job_config=month_config())))
    assert any("pageToken" in r["query"] for r in sandbox.requests())


def test_daily_rollup_ties_out_with_the_raw_rows(bq_client):
    raw = list(bq_client.query(RAW, job_config=month_config()).result())
    rollup = list(bq_client.query_and_wait(ROLLUP, job_config=month_config()))
    first = rollup[0]
    assert isinstance(first["usage_date"], dt.date) and isinstance(first["gross_cost"], Decimal)
    assert sum(r["row_count"] for r in rollup) == len(raw)
    assert sum(r["gross_cost"] for r in rollup) == sum(exact(r["cost"]) for r in raw)
    assert sum(r["credits"] for r in rollup) == sum(
        exact(c["amount"]) for r in raw for c in r["credits"]
    )
    dates = [r["usage_date"] for r in rollup]
    assert dates == sorted(dates) and dates[-1] == dt.date(2026, 10, 31)


def test_each_rows_amount_cast_to_numeric_then_summed_and_a_region_or_its_location(bq_client):
    """The shapes of Google's example queries: SUM(CAST(cost AS NUMERIC)), and COALESCE of
    the region with the location (a global service's rows have no region)."""
    per_row = f"""
SELECT COALESCE(NULLIF(location.region, ''), location.location) AS region,
  SUM(CAST(cost AS NUMERIC)) AS gross_cost,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) c), 0)) AS credits
FROM {TABLE}
WHERE invoice.month = @invoice_month
GROUP BY region"""
    raw = list(bq_client.query(RAW, job_config=month_config()).result())
    rows = {r["region"]: r for r in bq_client.query_and_wait(per_row, job_config=month_config())}

    def where(row):
        location = row["location"] or {}
        return location.get("region") or location.get("location")

    for region, got in rows.items():
        mine = [r for r in raw if where(r) == region]
        assert got["gross_cost"] == sum(exact(r["cost"]) for r in mine)
        assert got["credits"] == sum(exact(c["amount"]) for r in mine for c in r["credits"])
    assert "global" in rows and "us-central1" in rows


def test_credits_by_type_sum_the_unnested_credits(bq_client):
    raw = list(bq_client.query(RAW, job_config=month_config()).result())
    rows = list(bq_client.query(CREDITS_BY_TYPE, job_config=month_config()).result())
    got = {(r["project_id"], r["credit_type"]): r["amount"] for r in rows}
    free = sum(
        exact(c["amount"])
        for r in raw
        if r["project"] and r["project"]["id"] == "acme-staging"
        for c in r["credits"]
        if c["type"] == "FREE_TIER"
    )
    assert got[("acme-staging", "FREE_TIER")] == free < 0
    assert ("acme-prod", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE") in got


def test_unrecognised_sql_fails_the_job_with_bigquerys_error(bq_client):
    job = bq_client.query(f"SELECT cost * 2 AS doubled FROM {TABLE}")
    with pytest.raises(exceptions.BadRequest, match="sandbox/README.md"):
        job.result()
    assert job.error_result["reason"] == "invalidQuery"
    with pytest.raises(exceptions.BadRequest, match="Not found: Table"):
        bq_client.query_and_wait("SELECT * FROM `p.d.gcp_billing_export_v1_000000_000000_X`")
