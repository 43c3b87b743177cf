"""The sandbox's control side: injected API failures, the request log, reset, persistence
and the billing export file."""

import json
import re
import subprocess
import sys
import time

import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from tests.sandbox.conftest import PLATFORM, STAGING
from tests.sandbox.test_cloud_run import API, deploy_canary, short, split
from tests.sandbox.test_monitoring import counts_by_class
from tests.sandbox_fixture import REPO, start_sandbox, stop_sandbox


def test_a_503_burst_is_survived_with_retry_and_raised_without(run_client, sandbox):
    sandbox.api_fault(method="GET", path_regex="/services/api-server$", status=503, times=2)
    retry = Retry(
        predicate=if_exception_type(exceptions.ServiceUnavailable),
        initial=0.05,
        maximum=0.1,
        timeout=5,
    )
    assert run_client.get_service(name=API, retry=retry).name == API
    statuses = [r["status"] for r in sandbox.requests() if r["path"].endswith("api-server")]
    assert statuses == [503, 503, 200]
    sandbox.api_fault(method="GET", path_regex="/services/api-server$", status=503, times=2)
    with pytest.raises(exceptions.ServiceUnavailable):
        run_client.get_service(name=API, retry=None)


def test_grpc_calls_get_injected_failures_too(metrics_client, sandbox):
    sandbox.api_fault(method="GRPC", path_regex="ListTimeSeries", status=503, times=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        counts_by_class(metrics_client, "x", time.time() - 10, time.time())
    assert counts_by_class(metrics_client, "x", time.time() - 10, time.time()) == {}


def test_request_log_shows_what_the_app_sent(run_client, sandbox):
    stable, op = deploy_canary(run_client)
    op.result(timeout=10)
    since = len(sandbox.requests())
    run_client.get_service(name=API)
    log = sandbox.requests(since=since)
    assert [(r["method"], r["path"]) for r in log] == [("GET", "/v2/" + API)]
    patch = next(r for r in sandbox.requests() if r["method"] == "PATCH")
    assert [t["percent"] for t in patch["body"]["traffic"] if "percent" in t] == [100]


def test_reset_restores_the_seeded_platform(run_client, sandbox):
    sandbox.fault(project=STAGING, image="x", error_rate=0.5)
    deploy_canary(run_client)[1].result(timeout=10)
    sandbox.reset()
    state = sandbox.state()
    assert state["faults"] == [] and state["requestCount"] == 0
    svc = state["services"][API]
    assert short(svc["latestCreatedRevision"]).startswith("api-server-00001-")
    assert len(svc["history"]) == 1


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.json"
    first = start_sandbox(PLATFORM, "--state", str(path))
    try:
        client = run_v2.ServicesClient(
            transport="rest",
            client_options={"api_endpoint": first.http_url},
            credentials=AnonymousCredentials(),
        )
        stable, op = deploy_canary(client)
        op.result(timeout=10)
        svc = client.get_service(name=API)
        svc.traffic[:] = split((stable, 75, ""), ("api-server-1-5-0", 25, "canary"))
        client.update_service(service=svc).result(timeout=10)
    finally:
        stop_sandbox(first.process)
    second = start_sandbox(PLATFORM, "--state", str(path))
    try:
        client = run_v2.ServicesClient(
            transport="rest",
            client_options={"api_endpoint": second.http_url},
            credentials=AnonymousCredentials(),
        )
        svc = client.get_service(name=API)
        assert [(t.revision, t.percent) for t in svc.traffic] == [
            (stable, 75),
            ("api-server-1-5-0", 25),
        ]
        assert short(svc.latest_ready_revision) == "api-server-1-5-0"
    finally:
        stop_sandbox(second.process)


def test_export_billing_writes_bigquery_export_ndjson(bq_client):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "export-billing",
            "--platform",
            str(PLATFORM),
            "--month",
            "2026-10",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and {r["invoice"]["month"] for r in rows} == {"202610"}
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", r["usage_start_time"]) for r in rows
    )
    assert {
        "billing_account_id",
        "service",
        "sku",
        "project",
        "labels",
        "cost",
        "credits",
        "usage",
        "export_time",
        "cost_type",
    } <= set(rows[0])
    bq_rows = bq_client.query_and_wait(
        "SELECT * FROM `a.b.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9` "
        "WHERE invoice.month = '202610'"
    )
    assert len(rows) == bq_rows.total_rows
