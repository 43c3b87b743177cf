"""The Costs page with 36 months of history: 10 M export rows' worth of daily rollups
(3 environments and unallocated, 8 components, 4 GCP services, 40 SKUs, every day).

Printed:
- the page's p50 and p95 with 1 and with 10 concurrent connections (wrk) under gunicorn
  (the Procfile's web line, as it ships), for the month overview and an environment's
  drill-down: what a reader gets, the content served as built for the data's version;
- the build of a month's content after a change (an import, a pull, a target), in the
  web process: what the first reader after a change waits for, median and p95 over the
  36 months;
- baseline, in the same server: the bare view of bench/_health_urls.py, rendering a
  template of the same size as the page.

Target (the costs issue): the Costs page p95 < 100 ms.
"""

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/platform_admin_bench")
os.environ.setdefault("HTTPS", "off")
os.environ.setdefault("NO_GCE_CHECK", "true")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _django import throwaway_database  # noqa: E402
from _stack import (  # noqa: E402
    REPO,
    Stack,
    database_url,
    own_database_url,
    start_redis,
    start_web,
    web_workers,
)
from health import DURATION, WRK_SCRIPT, load  # noqa: E402

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "platform_admin_bench_costs")
MONTHS = 36
ROWS_WORTH = 10_000_000
COMPONENTS = [
    "api-server",
    "realtime",
    "agent",
    "livekit",
    "postgres",
    "redis",
    "frontend",
    "Networking",
]
SERVICES = ["Cloud Run", "Compute Engine", "Cloud SQL", "Cloud Memorystore"]
SKUS = [f"SKU {i:02d}" for i in range(40)]
TARGET_MS = 100.0


def months_back(today: date, count: int) -> list[str]:
    year, month = today.year, today.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def seed(today: date) -> int:
    """The daily buckets of MONTHS months; returns how many."""
    from costs.models import CostDaily, InvoiceMonth
    from platform_admin.models import Environment

    envs = [*Environment.objects.all(), None]
    rnd = random.Random(36)
    months = months_back(today, MONTHS)
    per_month_days = 30
    buckets_per_day = len(envs) * len(COMPONENTS) * 5
    rows_each = ROWS_WORTH // (MONTHS * per_month_days * buckets_per_day)
    batch, written = [], 0
    for month in months:
        first = date(int(month[:4]), int(month[5:]), 1)
        days = [first + timedelta(days=d) for d in range(per_month_days)]
        for day in days:
            if day >= today:
                continue
            for env in envs:
                for c, component in enumerate(COMPONENTS):
                    for k in range(5):
                        cost = rnd.randint(1, 5_000_000_000)
                        credit = -cost // 10 if k == 0 else 0
                        sku = SKUS[(c * 5 + k) % len(SKUS)]
                        batch.append(
                            CostDaily(
                                key_hash=f"{month}{day}{env.pk if env else 0}{c}{k}",
                                usage_day=day,
                                invoice_month=month,
                                environment=env,
                                component=component,
                                project_id=env.gcp_project if env else "shared",
                                labels={"app": component},
                                service_description=SERVICES[c % 4],
                                sku_id=sku,
                                sku_description=sku,
                                cost_type="regular",
                                currency="USD",
                                cost_nanos=cost,
                                credits_nanos=credit,
                                net_nanos=cost + credit,
                                credits_by_type={"FREE_TIER": f"{credit / 1e9:.9f}"}
                                if credit
                                else {},
                                row_count=rows_each,
                            )
                        )
                        if len(batch) == 10_000:
                            written += len(CostDaily.objects.bulk_create(batch))
                            batch = []
        InvoiceMonth.objects.create(month=month, source="pull")
    written += len(CostDaily.objects.bulk_create(batch))
    return written


def build_times(today: date) -> list[float]:
    """Each month's content built from scratch (the cache emptied), in this process."""
    from django.core.cache import cache

    from costs import pages

    out = []
    for month in months_back(today, MONTHS):
        cache.clear()
        started = time.perf_counter()
        pages.costs_html(month, today, "", [], pages.data_version(pages.environments_versioned()))
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    os.environ["DATABASE_URL"] = own_database_url(os.environ["DATABASE_URL"], BENCH_DATABASE)
    stack = Stack()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            redis_url = start_redis(stack, Path(tmp))
            os.environ["REDIS_URL"] = redis_url
            with throwaway_database():
                from django.contrib.auth import get_user_model
                from django.core.management import call_command
                from django.db import connection
                from django.test import Client

                from costs.bq_rows import PACIFIC
                from platform_admin.platform_file import load_platform
                from platform_admin.sync import sync_platform

                sync_platform(load_platform(REPO / "platform.example.toml"))
                call_command("collectstatic", interactive=False, verbosity=0)
                from django.utils import timezone

                today = timezone.now().astimezone(PACIFIC).date()
                started = time.perf_counter()
                buckets = seed(today)
                print(
                    f"seeded {buckets:,} daily buckets ({MONTHS} months, {ROWS_WORTH:,} export "
                    f"rows' worth) in {time.perf_counter() - started:.1f}s"
                )
                builds = build_times(today)
                carol = get_user_model().objects.create_superuser("bench", "b@bench.invalid", None)
                client = Client()
                client.force_login(carol)
                cookie = f"sessionid={client.cookies['sessionid'].value}"
                template = Path(tmp) / "bare.html"
                env_vars = {
                    **os.environ,
                    "DATABASE_URL": database_url(connection.settings_dict),
                    "REDIS_URL": redis_url,
                    "ALLOWED_HOSTS": "127.0.0.1",
                    "PYTHONPATH": str(REPO),
                    "BENCH_BARE_TEMPLATE": str(template),
                    "DJANGO_SETTINGS_MODULE": "bench._health_settings",
                }
                try:
                    base = start_web(stack, env_vars)
                    script = Path(tmp) / "bench.lua"
                    script.write_text(WRK_SCRIPT)
                    import urllib.request

                    request = urllib.request.Request(f"{base}/costs/", headers={"Cookie": cookie})
                    template.write_bytes(urllib.request.urlopen(request, timeout=30).read())
                    paths = ["/costs/", "/costs/?env=production&path=livekit"]
                    for path in [*paths, "/bench/bare/"]:
                        load(base, path, cookie, 1.0, script)  # warm both workers
                    results, bares = {}, {}
                    for connections in (1, 10):
                        os.environ["BENCH_CONNECTIONS"] = str(connections)
                        for p in paths:
                            results[p, connections] = load(base, p, cookie, DURATION, script)
                        bares[connections] = load(base, "/bench/bare/", cookie, DURATION, script)
                finally:
                    stack.stop()
        finally:
            stack.stop()
    ok = True
    print(f"\nCosts page under {web_workers()} (the Procfile's web line), wrk ({DURATION:g}s):")
    for (path, connections), r in results.items():
        passed = r["p95"] < TARGET_MS
        ok &= passed
        bare = bares[connections]
        print(
            f"  {path:<38} {connections:>2} conn  {r['size']:>6.0f} B  p50 {r['p50']:6.1f} ms  "
            f"p95 {r['p95']:6.1f} ms  {r['rps']:6.1f} req/s (p95 < {TARGET_MS:g} ms: "
            f"{'PASS' if passed else 'FAIL'}; {r['rps'] / bare['rps']:.2f}x the bare view)"
        )
    for connections, bare in bares.items():
        print(
            f"  {'bare view, same size':<38} {connections:>2} conn  {bare['size']:>6.0f} B  "
            f"p50 {bare['p50']:6.1f} ms  p95 {bare['p95']:6.1f} ms  {bare['rps']:6.1f} req/s"
        )
    builds.sort()
    p95 = builds[int(len(builds) * 0.95) - 1]
    print(
        f"  a month's content built after a change: median {statistics.median(builds):.0f} ms, "
        f"p95 {p95:.0f} ms over {len(builds)} months"
    )
    print(f"\nall targets: {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
