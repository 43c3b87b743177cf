"""Writing billing export rows as BigQuery-export NDJSON (what `bq extract` produces)."""

import json
from datetime import datetime

from .billing_rows import invoice_month_rows


def _plain(value):
    """NULL fields are left out, TIMESTAMPs become '2026-10-01 07:00:00 UTC'."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def write_ndjson(platform, invoice_month: str, as_of: datetime, out) -> int:
    rows = invoice_month_rows(platform, invoice_month, as_of)
    for row in rows:
        out.write(json.dumps(_plain(row), separators=(",", ":")) + "\n")
    return len(rows)
