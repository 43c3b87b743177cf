"""Which running imports are still running.

An import (a file or a pull) is one transaction: if its process ends before it commits —
the worker killed or restarted, the command interrupted — nothing of it is imported, but
its history row would say "running" forever. So the process holds a lock named after the
import while it runs: on PostgreSQL a session advisory lock, which the server releases
when the process's connection ends however it ends; on SQLite (one machine) the row
names the process, which is looked up. `settle()` records the imports whose holder is
gone as stopped, and the queued uploads whose job is gone from Redis as lost; the pages
showing imports call it.
"""

import contextlib
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import django_rq
from django.db import Error, connection
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from costs.models import BillingImport, ImportSource, ImportStatus
from platform_admin import audit

_LOCK_CLASS = 0x62696D70  # "bimp": two-key advisory locks (class, import id)
LOST = (
    "lost before a worker took it: its job is gone from the queue (the worker's Redis was "
    "emptied or restarted) — nothing imported. Upload the file again."
)
STOPPED = (
    "stopped before it finished: its process ended (killed, interrupted or restarted) — "
    "nothing imported. {again}"
)


def _again(record: BillingImport) -> str:
    if record.source == ImportSource.PULL:
        return f"Pull {record.pulled_month or 'the month'} again."
    return "Import the file again."


def _runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@contextmanager
def holding(record: BillingImport):
    """Run an import as `record`'s holder; enter before its status becomes running."""
    if connection.vendor != "postgresql":
        record.runner = _runner()
        BillingImport.objects.filter(pk=record.pk).update(runner=record.runner)
        yield
        return
    key = [_LOCK_CLASS, record.pk & 0x7FFFFFFF]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
    try:
        yield
    finally:
        # If the connection is gone, so is the lock: nothing to release.
        with contextlib.suppress(Error), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def settle() -> int:
    """Record every running import whose process is gone as stopped, and every queued
    upload whose job is gone (the queue's Redis emptied) as lost; returns how many."""
    with connection.cursor() as cursor:  # every page view asks: plain SQL, no ORM compile
        cursor.execute(
            f"SELECT id, status FROM {BillingImport._meta.db_table} "  # noqa: S608
            "WHERE status = %s OR (status = %s AND job_id <> '')",
            [ImportStatus.RUNNING, ImportStatus.QUEUED],
        )
        found = cursor.fetchall()
    if not found:
        return 0
    settled = 0
    for record in BillingImport.objects.filter(pk__in=[pk for pk, _ in found]):
        if record.status == ImportStatus.RUNNING and not _alive(record):
            settled += stopped(record)
        elif record.status == ImportStatus.QUEUED and _job_lost(record.job_id):
            settled += stopped(record, ImportStatus.QUEUED, LOST)
    return settled


def _job_lost(job_id: str) -> bool:
    """Whether an upload's job will never run: gone from Redis, or ended without taking
    its import (which it claims first)."""
    try:
        job = Job.fetch(job_id, connection=django_rq.get_connection("billing"))
    except NoSuchJobError:
        return True
    except RedisError:
        return False  # cannot tell now
    return job.get_status(refresh=False) in _ENDED


_ENDED = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED)


def _alive(record: BillingImport) -> bool:
    if connection.vendor != "postgresql":
        host, _, pid = record.runner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return True  # another machine's, or not started yet: cannot tell
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    with connection.cursor() as cursor:  # held by any session, this one included
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = %s AND objid = %s AND objsubid = 2)",
            [_LOCK_CLASS, record.pk & 0x7FFFFFFF],
        )
        return cursor.fetchone()[0]


def stopped(record: BillingImport, status: str = ImportStatus.RUNNING, message: str = "") -> bool:
    """Record `record`, marked `status` (running: its process ended, or is ending), as
    stopped; False if it finished (or started) meanwhile."""
    message = message or STOPPED.format(again=_again(record))
    changed = BillingImport.objects.filter(pk=record.pk, status=status).update(
        status=ImportStatus.ERRORED,
        message=message,
        finished_at=timezone.now(),
        rows_read=0,
        rows_new=0,
        rows_known=0,
        months={},
    )
    if not changed:
        return False  # it finished meanwhile
    if record.upload_path:
        Path(record.upload_path).unlink(missing_ok=True)
    with audit.acting_from(record.client_ip):  # where it was started, not who noticed
        audit.record(
            "billing.stopped",
            actor=record.created_by or record.actor or None,  # who started it
            obj=record,
            detail={
                "file_name": record.file_name,
                "month": record.pulled_month,
                "source": record.source,
                "message": message,
            },
        )
    return True
