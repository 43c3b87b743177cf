"""Billing import: a generated export of 1,000,000 rows (the export's shape: ~25 fields,
labels, credits on a third of the rows), imported from NDJSON.gz.

Printed in one run, each in a fresh process of its own (peak RSS is that process's; for
our import, plus the summed peak of the parse workers it starts):
- our import (`costs.importer.import_file`: parse with exact Decimals, row identities,
  daily rollups, one transaction; a big file parsed by one worker process per CPU) at
  100 k and 1 M rows: rows/s and peak RSS;
- the floor: PostgreSQL `COPY` of the same rows pre-flattened to 9 CSV columns into an
  unlogged, unindexed table (the flattening is not timed);
- what an analyst would write: pandas `read_json(lines=True)` + a groupby computing the
  month's totals (floats: not exact, and no identities);
- DuckDB `read_json` + GROUP BY of the same (the best embedded engine).

Targets (the costs issue): >= 0.3x COPY's throughput, >= 3x pandas', peak RSS < 300 MB
and flat from 100 k to 1 M rows; the DuckDB ratio is printed as it is.
"""

import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/platform_admin_bench")
os.environ.setdefault("HTTPS", "off")
os.environ.setdefault("NO_GCE_CHECK", "true")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _django import throwaway_database  # noqa: E402
from _stack import database_url, own_database_url  # noqa: E402

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "platform_admin_bench_billing")
SIZES = (100_000, 1_000_000)
TARGETS = {"copy": 0.3, "pandas": 3.0, "rss_mb": 300}
PROJECTS = [("acme-staging", "staging"), ("acme-prod", "production"), ("acme-shared", "")]
APPS = ["api-server", "realtime", "agent", "livekit", "postgres", "redis", "frontend"]
SKUS = [(f"{i:04X}-{i * 7 % 9999:04X}-{i * 13 % 9999:04X}", f"SKU number {i}") for i in range(60)]
SERVICES = [
    ("152E-C115-5142", "Cloud Run"),
    ("6F81-5844-456A", "Compute Engine"),
    ("9662-B51E-5089", "Cloud SQL"),
    ("5490-F7B7-8DF6", "Cloud Memorystore"),
]
CREDITS = ["FREE_TIER", "SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT", "PROMOTION"]


# --- the export ----------------------------------------------------------------------


def generate(path: Path, n: int, seed: int = 7) -> None:
    """`n` export rows as NDJSON.gz, hourly over October 2026 (a few late into November)."""
    import orjson

    rnd = random.Random(seed)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for i in range(n):
            hour = i % (31 * 24)
            day, h = 1 + hour // 24, hour % 24
            project, env = PROJECTS[i % 3]
            service = SERVICES[i % 4]
            sku = SKUS[i % 60]
            cost = round(rnd.random() * 2, 6)
            row = {
                "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                "service": {"id": service[0], "description": service[1]},
                "sku": {"id": sku[0], "description": sku[1]},
                "usage_start_time": f"2026-10-{day:02d} {h:02d}:00:00 UTC",
                "usage_end_time": f"2026-10-{day:02d} {h:02d}:59:59 UTC",
                "project": {
                    "id": project,
                    "number": str(100000 + i % 3),
                    "name": project,
                    "labels": [{"key": "team", "value": "platform"}],
                    "ancestry_numbers": "/123456/",
                },
                "labels": ([{"key": "env", "value": env}] if env else [])
                + [{"key": "app", "value": APPS[i % 7]}],
                "system_labels": [{"key": "compute.googleapis.com/machine_spec", "value": "n2"}],
                "location": {
                    "location": "us-central1",
                    "country": "US",
                    "region": "us-central1",
                    "zone": None,
                },
                "export_time": f"2026-10-{day:02d} {h:02d}:30:00 UTC",
                "cost": cost,
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": {
                    "amount": float(i % 3600),
                    "unit": "seconds",
                    "amount_in_pricing_units": round((i % 3600) / 3600, 6),
                    "pricing_unit": "hour",
                },
                "credits": [
                    {
                        "name": CREDITS[i % 4],
                        "amount": -round(cost / 4, 6),
                        "full_name": None,
                        "id": f"credit-{i % 4}",
                        "type": CREDITS[i % 4],
                    }
                ]
                if i % 3 == 0
                else [],
                "invoice": {"month": "202610"},
                "cost_type": "regular",
                "adjustment_info": None,
                "cost_at_list": cost,
                "transaction_type": "GOOGLE",
                "seller_name": None,
                "tags": [],
                "resource": {
                    "name": f"projects/{project}/services/{APPS[i % 7]}",
                    "global_name": None,
                },
            }
            out.write(orjson.dumps(row) + b"\n")


# --- the measured runs, each in a process of its own ---------------------------------


def child_import(path: str) -> dict:
    import django

    django.setup()
    from django.db import connection

    from costs.importer import import_file

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE costs_billingrow, costs_costdaily, costs_invoicemonth, "
            "costs_billingimport RESTART IDENTITY CASCADE"
        )
    workers = _ChildrenRss()
    started = time.perf_counter()
    record = import_file(Path(path))
    seconds = time.perf_counter() - started
    workers.stop()
    assert record.status == "succeeded", record.message
    return {"seconds": seconds, "rows": record.rows_new, "workers_rss_mb": workers.peak_mb}


def child_import_more(paths: str) -> dict:
    """The second of two exports of the same month: its new rows go into the buckets
    the first created (only the second is timed)."""
    import django

    django.setup()
    from costs.importer import import_file
    from costs.models import CostDaily

    first, second = paths.split(",")
    child_import(first)
    buckets = CostDaily.objects.count()
    started = time.perf_counter()
    record = import_file(Path(second))
    seconds = time.perf_counter() - started
    assert record.status == "succeeded", record.message
    created = CostDaily.objects.count() - buckets
    return {"seconds": seconds, "rows": record.rows_new, "buckets": buckets, "created": created}


class _ChildrenRss:
    """The peak of the summed RSS of this process's children (the import's parse
    workers), sampled every 20 ms from /proc."""

    def __init__(self):
        import threading

        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.02):
            try:
                children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
            except OSError:
                return
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(pid) for pid in children))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _rss_mb(pid: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_copy(csv_path: str) -> dict:
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_floor")
        cur.execute(
            "CREATE UNLOGGED TABLE bench_floor (usage_day date, invoice_month text, "
            "project_id text, service text, sku text, labels text, cost numeric, "
            "credits numeric, currency text)"
        )
        started = time.perf_counter()
        with (
            open(csv_path, "rb") as fh,
            cur.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        cur.execute("SELECT count(*) FROM bench_floor")
        rows = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_floor")
    return {"seconds": seconds, "rows": rows}


def child_pandas(path: str) -> dict:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_json(path, lines=True, compression="gzip", dtype=False)
    month = frame["invoice"].str["month"]
    credits = frame["credits"].map(lambda cs: sum(c["amount"] for c in cs))
    totals = (frame["cost"] + credits).groupby(month).sum()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "total": float(totals.iloc[0])}


def child_duckdb(path: str) -> dict:
    import duckdb

    started = time.perf_counter()
    rows = duckdb.sql(
        "SELECT invoice.month AS month, count(*) AS n, "
        "SUM(cost) + SUM(COALESCE(list_sum(list_transform(credits, lambda c: c.amount)), 0)) "
        "AS net "
        f"FROM read_json('{path}', format = 'newline_delimited') GROUP BY 1"
    ).fetchall()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": sum(r[1] for r in rows), "total": float(rows[0][2])}


CHILDREN = {
    "import": child_import,
    "import-more": child_import_more,
    "copy": child_copy,
    "pandas": child_pandas,
    "duckdb": child_duckdb,
}


def run_child(kind: str, arg: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, arg],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def flatten(path: Path, csv_path: Path) -> None:
    """The COPY floor's input: each row flattened to 9 CSV columns (not timed)."""
    import csv

    with gzip.open(path, "rb") as src, open(csv_path, "w", newline="") as dst:
        writer = csv.writer(dst)
        for line in src:
            row = json.loads(line)
            credits = sum(c["amount"] for c in row["credits"])
            writer.writerow(
                [
                    row["usage_start_time"][:10],
                    row["invoice"]["month"],
                    row["project"]["id"],
                    row["service"]["description"],
                    row["sku"]["id"],
                    json.dumps(row["labels"]),
                    row["cost"],
                    credits,
                    row["currency"],
                ]
            )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        result = CHILDREN[sys.argv[2]](sys.argv[3])
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["rss_mb"] += result.pop("workers_rss_mb", 0)  # the import's parse workers
        print(json.dumps(result))
        return 0
    os.environ["DATABASE_URL"] = own_database_url(os.environ["DATABASE_URL"], BENCH_DATABASE)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database():
        from django.db import connection

        from platform_admin.platform_file import load_platform
        from platform_admin.sync import sync_platform

        sync_platform(load_platform(REPO / "platform.example.toml"))
        env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "PYTHONPATH": str(REPO),
            "DJANGO_SETTINGS_MODULE": "platform_admin.settings",
        }
        files = {}
        for n in SIZES:
            started = time.perf_counter()
            files[n] = Path(tmp) / f"export-{n}.jsonl.gz"
            generate(files[n], n)
            size = files[n].stat().st_size / 1e6
            print(
                f"generated {n:,} rows ({size:.0f} MB gzip) in {time.perf_counter() - started:.1f}s"
            )
        more = Path(tmp) / "export-more.jsonl.gz"
        generate(more, SIZES[0], seed=8)  # other rows of the same month, hours and SKUs
        big = files[SIZES[-1]]
        csv_path = Path(tmp) / "flat.csv"
        flatten(big, csv_path)
        ours = {n: run_child("import", str(files[n]), env) for n in SIZES}
        again = run_child("import-more", f"{files[SIZES[0]]},{more}", env)
        floor = run_child("copy", str(csv_path), env)
        pandas = run_child("pandas", str(big), env)
        duck = run_child("duckdb", str(big), env)
    n = SIZES[-1]
    rate = {
        name: r["rows"] / r["seconds"]
        for name, r in (("ours", ours[n]), ("copy", floor), ("pandas", pandas), ("duckdb", duck))
    }
    print(f"\n{n:,} rows from NDJSON.gz (rows/s, seconds, peak RSS):")
    for name, r in (
        ("our import", ours[n]),
        ("COPY floor (pre-flattened)", floor),
        ("pandas read_json + groupby", pandas),
        ("DuckDB read_json + GROUP BY", duck),
    ):
        print(
            f"  {name:<30} {r['rows'] / r['seconds']:>10,.0f} rows/s {r['seconds']:>7.1f}s "
            f"{r['rss_mb']:>6.0f} MB"
        )
    small = ours[SIZES[0]]
    print(
        f"  our import at {SIZES[0]:,} rows: {small['rows'] / small['seconds']:,.0f} rows/s, "
        f"peak RSS {small['rss_mb']:.0f} MB"
    )
    print(
        f"  a second export of the month, {again['rows']:,} new rows into its "
        f"{again['buckets']:,} buckets ({again['created']:,} new): "
        f"{again['rows'] / again['seconds']:,.0f} rows/s, "
        f"{again['rows'] / again['seconds'] / (small['rows'] / small['seconds']):.2f}x the first"
    )
    checks = [
        ("vs COPY", rate["ours"] / rate["copy"], TARGETS["copy"], ">="),
        ("vs pandas", rate["ours"] / rate["pandas"], TARGETS["pandas"], ">="),
    ]
    ok = True
    for label, value, target, _ in checks:
        passed = value >= target
        ok &= passed
        print(f"  {label}: {value:.2f}x (target >= {target}x: {'PASS' if passed else 'FAIL'})")
    print(f"  vs DuckDB: {rate['ours'] / rate['duckdb']:.2f}x (reported as it is)")
    rss, growth = ours[n]["rss_mb"], ours[n]["rss_mb"] / small["rss_mb"]
    rss_ok = rss < TARGETS["rss_mb"] and growth < 1.25
    ok &= rss_ok
    print(
        f"  peak RSS {rss:.0f} MB at 1 M rows, {growth:.2f}x the 100 k run's (target < "
        f"{TARGETS['rss_mb']} MB and flat: {'PASS' if rss_ok else 'FAIL'})"
    )
    print(f"\nall targets: {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
