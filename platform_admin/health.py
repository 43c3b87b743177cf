"""Liveness of the things the dashboard cannot work without, and of its background side.

`/healthz` runs every check in `settings.HEALTH_CHECKS` (dotted paths, so apps above this
layer add theirs): the web's own dependencies answer 503 when down; the background's
(the cron scheduler, the rollout engine) turn the status to "degraded" with a sentence,
so a monitor sees a stalled engine while the web itself stays in service.
"""

import time

import django_rq
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string
from rq.cron import CronScheduler

CRON_STALE_SECONDS = 30


def run_checks() -> tuple[dict, bool, bool]:
    """({name: detail}, everything ok, the web's own dependencies ok)."""
    details, ok, serving = {}, True, True
    for name, path, essential in settings.HEALTH_CHECKS:
        try:
            passed, detail = import_string(path)()
        except Exception as exc:  # noqa: BLE001 - a broken check reports, never 500s
            passed, detail = False, f"{type(exc).__name__}: {exc}"
        details[name] = detail
        ok = ok and passed
        serving = serving and (passed or not essential)
    return details, ok, serving


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported as text
        return False, f"{type(exc).__name__}: {exc}"


def check_redis() -> tuple[bool, str]:
    try:
        django_rq.get_connection("default").ping()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"


def check_cron() -> tuple[bool, str]:
    """A cron scheduler (the Procfile's `cron` line) has beaten recently."""
    schedulers = CronScheduler.all(django_rq.get_connection("default"))
    beats = [s.last_heartbeat for s in schedulers if s.last_heartbeat is not None]
    if not beats:
        return False, "no cron scheduler is running (the Procfile's cron line)"
    age = time.time() - max(beats).timestamp()
    if age > CRON_STALE_SECONDS:
        return False, f"the cron scheduler was last seen {int(age)} s ago"
    return True, "ok"
