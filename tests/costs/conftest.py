"""Export rows as a test writes them, and files of them."""

import gzip
import json
from decimal import Decimal

import pytest

from tests.deployments.conftest import redis_conn  # noqa: F401 - a fixture by name


def export_row(
    cost="1.000000",
    *,
    project="acme-staging",
    labels=None,
    service="Cloud Run",
    sku="CPU Allocation Time",
    month="202610",
    start="2026-10-05 07:00:00 UTC",
    credits=(),
    cost_type="regular",
    **extra,
):
    """One row in the shape of the BigQuery export, amounts kept as exact JSON numbers."""
    row = {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": _named("SVC", service),
        "sku": _named("SKU", sku),
        "usage_start_time": start,
        "usage_end_time": start,
        "project": {"id": project, "name": project} if project else None,
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "cost": Decimal(cost),
        "currency": "USD",
        "currency_conversion_rate": Decimal("1.0"),
        "usage": {"amount": Decimal("3600"), "unit": "seconds"},
        "credits": [{"name": t, "amount": Decimal(a), "type": t} for t, a in credits],
        "invoice": {"month": month},
        "cost_type": cost_type,
    }
    row.update(extra)
    return row


def _named(prefix: str, description: str | None) -> dict | None:
    if not description:
        return None
    return {"id": f"{prefix}-{description[:4].upper()}", "description": description}


def ndjson(rows, *, sort_keys=False, indent_spaces=False) -> bytes:
    """NDJSON text; Decimals written as their exact digits."""
    sep = (", ", ": ") if indent_spaces else (",", ":")
    out = []
    for row in rows:
        text = json.dumps(row, default=_number, separators=sep, sort_keys=sort_keys)
        out.append(text.replace('"<<', "").replace('>>"', ""))
    return ("\n".join(out) + "\n").encode()


def _number(value):
    return f"<<{value}>>"  # unquoted again by ndjson(): exact digits, never via float


@pytest.fixture
def write_export(tmp_path):
    """write_export(rows, name=..., gz=..., sort_keys=...) -> Path of the file."""

    def write(rows, name="export.jsonl", *, gz=False, **kwargs):
        path = tmp_path / name
        data = rows if isinstance(rows, bytes) else ndjson(rows, **kwargs)
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


@pytest.fixture
def upload_dir(tmp_path, settings):
    folder = tmp_path / "uploads"
    settings.BILLING_UPLOAD_DIR = str(folder)
    return folder


@pytest.fixture
def billing_worker(transactional_db, upload_dir, redis_conn):  # noqa: F811
    """The Procfile's worker for the `billing` queue, against the test database and the
    same upload folder."""
    import os

    from django.db import connection

    from tests.deployments.conftest import REPO, Worker

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "BILLING_UPLOAD_DIR": str(upload_dir),
        "DATABASE_CONN_MAX_AGE": "0",
    }
    (REPO / "var").mkdir(exist_ok=True)
    handle = Worker(env, ("rqworker", "billing")).start()
    yield handle
    handle.stop()
    handle.log.close()


def delivered(slack: list[str]) -> list[str]:
    """The Slack posts so far: the notifications queued (on commit) are sent by RQ's
    worker in this process, to the loopback webhook the `slack` fixture runs."""
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    return list(slack)


@pytest.fixture(params=["parsed-here", "parse-workers"])
def both_parsers(request, settings):
    """The test runs twice: the file parsed by the importer's own process, then by two
    parse workers, as a file over BILLING_PARALLEL_IMPORT_BYTES is."""
    if request.param == "parse-workers":
        settings.BILLING_PARALLEL_IMPORT_BYTES = 1
        settings.BILLING_IMPORT_WORKERS = 2
    else:
        settings.BILLING_IMPORT_WORKERS = 0
    return request.param
