"""BigQuery adapter against the sandbox's synthetic billing export."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from platform_admin import gcp
from platform_admin.gcp_bigquery import billing_rows, query_parameters, run_query
from tests.platform_admin.conftest import PROD

TABLE = "acme-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"


def test_billing_rows_are_the_raw_export_rows_of_one_invoice_month(gcp_sandbox):
    rows = list(billing_rows(PROD, TABLE, "202610"))

    assert rows
    assert {r["invoice"]["month"] for r in rows} == {"202610"}
    usage = next(r for r in rows if r["cost_type"] == "regular" and r["project"])
    assert isinstance(usage["project"]["labels"], list)  # REPEATED RECORD -> list of dicts
    assert {"key", "value"} <= set(usage["project"]["labels"][0])
    assert isinstance(usage["usage_start_time"], datetime)
    assert usage["usage_start_time"].tzinfo is not None
    assert isinstance(usage["credits"], list)
    assert any(r["cost_type"] == "tax" for r in rows)


def test_billing_rows_sends_the_month_as_a_query_parameter(gcp_sandbox):
    list(billing_rows(PROD, TABLE, "202610"))

    (insert,) = [r for r in gcp_sandbox.requests() if r["path"].endswith("/jobs")]
    query = insert["body"]["configuration"]["query"]
    assert "@invoice_month" in query["query"]
    assert query["queryParameters"][0]["parameterValue"] == {"value": "202610"}
    assert insert["path"] == f"/bigquery/v2/projects/{PROD}/jobs"


@pytest.mark.parametrize(
    ("table", "month"),
    [("billing; DROP TABLE x", "202610"), ("a.b", "202610"), (TABLE, "2026-10"), (TABLE, "202613")],
)
def test_billing_rows_refuses_bad_names_before_calling_google(gcp_sandbox, table, month):
    with pytest.raises(gcp.GcpInvalidRequest):
        billing_rows(PROD, table, month)

    assert gcp_sandbox.requests() == []


def test_run_query_passes_typed_parameters_and_returns_plain_rows(gcp_sandbox):
    sql = (
        "SELECT DATE(usage_start_time, 'America/Los_Angeles') AS day, project.id AS project_id,"
        " CAST(SUM(cost) AS NUMERIC) AS cost, COUNT(*) AS n"
        f" FROM `{TABLE}` WHERE invoice.month = @month AND project.id = @project"
        " AND DATE(usage_start_time, 'America/Los_Angeles') >= @since"
        " AND usage_start_time < @before GROUP BY day, project_id ORDER BY day"
    )
    params = {
        "month": "202610",
        "project": PROD,
        "since": date(2026, 10, 5),
        "before": datetime(2026, 10, 8, tzinfo=UTC),
    }

    rows = list(run_query(PROD, sql, params))

    assert [r["day"] for r in rows] == [date(2026, 10, d) for d in (5, 6, 7)]
    assert all(r["project_id"] == PROD for r in rows)
    assert all(isinstance(r["cost"], Decimal) and r["cost"] > 0 for r in rows)
    assert all(isinstance(r["n"], int) for r in rows)


def test_a_rejected_query_raises_invalid_request_with_bigquerys_message(gcp_sandbox):
    with pytest.raises(gcp.GcpInvalidRequest) as rejected:
        run_query(PROD, f"SELECT nonsense FROM `{TABLE}`")

    assert rejected.value.message.startswith("BigQuery rejected the query on project acme-prod")
    assert "nonsense" in rejected.value.message
    assert "Job ID" not in rejected.value.message


def test_query_parameter_types_are_inferred():
    params = query_parameters(
        {
            "s": "x",
            "i": 3,
            "b": True,
            "f": 1.5,
            "d": Decimal("1.25"),
            "day": date(2026, 10, 1),
            "at": datetime(2026, 10, 1, tzinfo=UTC),
            "ids": ["a", "b"],
        }
    )

    types = {p.name: getattr(p, "type_", None) or p.array_type for p in params}
    assert types == {
        "s": "STRING",
        "i": "INT64",
        "b": "BOOL",
        "f": "FLOAT64",
        "d": "NUMERIC",
        "day": "DATE",
        "at": "TIMESTAMP",
        "ids": "STRING",
    }


def test_an_unsupported_parameter_type_is_refused():
    with pytest.raises(gcp.GcpInvalidRequest, match="dict"):
        query_parameters({"x": {"a": 1}})
