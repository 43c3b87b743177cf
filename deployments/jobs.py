"""RQ entry points for deployments, on the `deploys` queue. Jobs get ids, never model
instances.

- `advance_rollout(id, owner)` runs the engine for one rollout: every pass due now.
- `tick()` runs every second (declared in `settings.PERIODIC_JOBS`, run by RQ's cron
  scheduler): it claims the rollouts whose `next_check_at` is due and enqueues them. The
  database is the schedule; nothing waits in Redis for its time, so a lost job or a dead
  worker costs a rollout a few seconds at most (`deployments/leases.py`).
"""

import functools

import django_rq
from django.db import transaction

DEPLOY_QUEUE = "deploys"
# An advance job's outcome is in the rollout's timeline; RQ keeps its result a minute (a
# failed job longer, for its traceback).
ADVANCE_OPTIONS = {"job_timeout": 900, "result_ttl": 60}


@functools.cache
def _queue():
    """One queue, and so one Redis connection pool, per process (django-rq's `get_queue`
    opens a new connection on every call)."""
    return django_rq.get_queue(DEPLOY_QUEUE, commit_mode="auto")  # on_commit is ours


def enqueue_advance(rollout_id: int, owner: str = "") -> None:
    _queue().enqueue(advance_rollout, rollout_id, owner, **ADVANCE_OPTIONS)


def advance_rollout(rollout_id: int, owner: str = "") -> None:
    from deployments import engine  # the engine imports the Google clients: only in workers

    engine.advance(rollout_id, owner)


def tick() -> int:
    """Hand every due rollout to a worker; returns how many."""
    from deployments import engine

    owner, due = engine.claim_due()
    if due:
        with _queue().connection.pipeline() as pipe:
            for pk in due:
                _queue().enqueue(advance_rollout, pk, owner, pipeline=pipe, **ADVANCE_OPTIONS)
            pipe.execute()
    return len(due)


def enqueue_on_commit(rollout_id: int) -> None:
    """Enqueue the rollout's next pass once the current transaction commits (a control
    or a start answers at once; the tick would find it within a second anyway)."""
    transaction.on_commit(lambda: enqueue_advance(rollout_id))
