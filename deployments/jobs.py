"""RQ entry points for deployments. Jobs get ids, never model instances.

- `advance_rollout(id)` runs the engine and schedules itself for the next check
  (RQ's scheduler: workers run `--with-scheduler`).
- `reconcile()` re-enqueues active rollouts whose next check is overdue (a killed worker,
  a lost Redis job) and keeps itself scheduled every RECONCILE_SECONDS.
- `send_notification(environment_id, text)` posts to Slack with RQ retries.
"""

import functools
import logging
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.utils import timezone
from rq import Retry

from deployments.models import Environment, Rollout, RolloutState

log = logging.getLogger(__name__)

DEPLOY_QUEUE = "deploys"
NOTIFY_QUEUE = "default"
RECONCILE_JOB_ID = "deployments-reconcile"
# A scheduled check may run this late before the reconciler steps in.
OVERDUE_GRACE = timedelta(seconds=settings.DEPLOYMENTS_OVERDUE_GRACE_SECONDS)
RECONCILE_SECONDS = settings.DEPLOYMENTS_RECONCILE_SECONDS
SCHEDULER_RESOLUTION = 1.0  # seconds: RQ's own scheduled-job scores are whole seconds


@functools.cache
def _queue(name: str = DEPLOY_QUEUE):
    """One queue, and so one Redis connection pool, per process and queue name
    (django-rq's `get_queue` opens a new connection on every call)."""
    return django_rq.get_queue(name)


# An advance job's outcome is in the rollout's timeline; RQ keeps its result a minute (a
# failed job longer, for its traceback). Not 0: RQ then deletes the finished job and its
# execution records at once, which costs a worker more Redis calls than expiring them.
ADVANCE_OPTIONS = {"job_timeout": 600, "result_ttl": 60}


def enqueue_advance(rollout_id: int) -> None:
    _queue().enqueue(advance_rollout, rollout_id, **ADVANCE_OPTIONS)
    ensure_reconciler()


def schedule_advance(rollout_id: int, when) -> None:
    queue = _queue()
    if when <= timezone.now():
        queue.enqueue(advance_rollout, rollout_id, **ADVANCE_OPTIONS)
        return
    due = when.timestamp()
    with queue.connection.pipeline() as pipe:  # MULTI/EXEC: scheduled and scored at once
        job = queue.enqueue_at(
            when, advance_rollout, rollout_id, due, pipeline=pipe, **ADVANCE_OPTIONS
        )
        # RQ scores its scheduled registry in whole seconds (a job due at 12:00:00.7 would
        # be released at 12:00:00); the score to the fraction lets the worker's scheduler
        # release it when due (`worker.PreciseScheduledJobRegistry`).
        pipe.zadd(queue.scheduled_job_registry.key, {job.id: due})
        pipe.execute()


def advance_rollout(rollout_id: int, due: float | None = None) -> str:
    from deployments import engine

    _wait_until(due)
    next_at = engine.advance(rollout_id)
    ensure_reconciler()
    if next_at is not None:
        schedule_advance(rollout_id, next_at)
    return f"next check {next_at.isoformat() if next_at else 'none'}"


def _wait_until(due: float | None) -> None:
    """The scheduler releases a check a moment before it is due (`worker.RELEASE_LEAD_
    SECONDS`; a job scored by RQ alone, in whole seconds, up to a second): wait out the
    rest, never more than SCHEDULER_RESOLUTION, so the check runs when it is due."""
    if due is not None:
        time.sleep(min(max(due - time.time(), 0.0), SCHEDULER_RESOLUTION))


def reconcile() -> int:
    """Re-enqueue overdue active rollouts; returns how many."""
    try:
        overdue = list(
            Rollout.objects.filter(
                state__in=[
                    RolloutState.QUEUED,
                    RolloutState.DEPLOYING,
                    RolloutState.CANARY,
                    RolloutState.ROLLING_BACK,
                ],
                next_check_at__lt=timezone.now() - OVERDUE_GRACE,
            ).values_list("pk", flat=True)
        )
        # A queued rollout whose first job was lost has no next_check_at yet.
        overdue += list(
            Rollout.objects.filter(
                state=RolloutState.QUEUED,
                next_check_at__isnull=True,
                created_at__lt=timezone.now() - OVERDUE_GRACE,
            ).values_list("pk", flat=True)
        )
        for pk in overdue:
            log.warning("rollout %s is overdue; re-enqueueing", pk)
            _queue().enqueue(advance_rollout, pk, **ADVANCE_OPTIONS)
        return len(overdue)
    finally:
        _schedule_reconciler(force=True)


_next_reconciler_check = 0.0  # monotonic time; per process


def ensure_reconciler() -> None:
    """Make sure a reconcile job is waiting (called whenever a rollout moves). A process
    looks in Redis at most every half period: the marker lives two periods, so a lapse is
    still caught well before an overdue rollout would be."""
    global _next_reconciler_check
    if time.monotonic() < _next_reconciler_check:
        return
    _next_reconciler_check = time.monotonic() + RECONCILE_SECONDS / 2
    _schedule_reconciler(force=False)


def _schedule_reconciler(force: bool) -> None:
    # A marker key with a TTL of two periods says "one is scheduled"; each run schedules
    # the next under a fresh job id, and if a run dies the marker lapses and the next
    # enqueue_advance/advance_rollout schedules a new one.
    queue = _queue()
    marker = f"{RECONCILE_JOB_ID}:scheduled"
    ttl = max(2 * RECONCILE_SECONDS, 5)
    if force:
        queue.connection.set(marker, "1", ex=ttl)
    elif not queue.connection.set(marker, "1", ex=ttl, nx=True):
        return
    queue.enqueue_in(timedelta(seconds=RECONCILE_SECONDS), reconcile, job_timeout=120)


def enqueue_notification(environment_id: int, text: str) -> None:
    _queue(NOTIFY_QUEUE).enqueue(
        send_notification, environment_id, text, retry=Retry(max=3, interval=[1, 5, 30])
    )


def send_notification(environment_id: int, text: str) -> bool:
    from deployments.notify import post_to_webhook

    env = Environment.objects.filter(pk=environment_id).first()
    if env is None:
        return False
    return post_to_webhook(env.slack_webhook_env, text)
