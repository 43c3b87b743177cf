"""Scheduling: a rollout's next check goes out to the fraction of a second (RQ's own
scheduled registry keeps whole seconds, which released a check due at 12:00:00.7 at
12:00:00 to wait in a worker thread for most of a second), and a lost reconciler is
scheduled again."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from deployments import jobs
from deployments.worker import RELEASE_LEAD_SECONDS, PreciseScheduledJobRegistry


def _registry(redis_conn) -> PreciseScheduledJobRegistry:
    return PreciseScheduledJobRegistry(jobs.DEPLOY_QUEUE, connection=redis_conn)


def _start_of_a_second() -> datetime:
    """Now, early in a whole second: 0.6 s later is still the same second."""
    while time.time() % 1 > 0.2:
        time.sleep(0.02)
    return datetime.now(UTC)


def test_a_next_check_is_scored_at_its_due_time_to_the_fraction(redis_conn):
    when = datetime.now(UTC).replace(microsecond=700_000) + timedelta(seconds=30)

    jobs.schedule_advance(42, when)

    [(job_id, score)] = redis_conn.zrange(
        jobs._queue().scheduled_job_registry.key, 0, -1, withscores=True
    )
    assert score == pytest.approx(when.timestamp(), abs=1e-3)
    assert jobs._queue().fetch_job(job_id.decode()).args == (42, when.timestamp())


def test_a_check_due_later_in_the_same_second_is_not_released_yet(redis_conn):
    now = _start_of_a_second()
    jobs.schedule_advance(7, now + timedelta(seconds=0.6))

    # RQ's whole-second registry would hand this job out now, 0.6 s early.
    assert _registry(redis_conn).get_jobs_to_schedule() == []


def test_a_check_is_released_just_before_it_is_due(redis_conn):
    when = datetime.now(UTC) + timedelta(seconds=0.5)
    jobs.schedule_advance(7, when)
    [job_id] = [
        j.decode() for j in redis_conn.zrange(jobs._queue().scheduled_job_registry.key, 0, -1)
    ]

    time.sleep(max(when.timestamp() - RELEASE_LEAD_SECONDS + 0.05 - time.time(), 0))

    assert _registry(redis_conn).get_jobs_to_schedule() == [job_id]


def _scheduled_reconcilers() -> list[str]:
    registry = jobs._queue().scheduled_job_registry
    return [
        j for j in registry.get_job_ids() if "reconcile" in jobs._queue().fetch_job(j).func_name
    ]


def test_a_reconciler_lost_with_redis_is_scheduled_again(redis_conn, monkeypatch):
    monkeypatch.setattr(jobs, "_next_reconciler_check", 0.0)
    jobs.ensure_reconciler()
    assert len(_scheduled_reconcilers()) == 1

    jobs.ensure_reconciler()  # moments later: no second one
    assert len(_scheduled_reconcilers()) == 1

    redis_conn.flushdb()  # Redis lost the job and its marker
    monkeypatch.setattr(jobs, "_next_reconciler_check", 0.0)  # half a period later
    jobs.ensure_reconciler()
    assert len(_scheduled_reconcilers()) == 1
