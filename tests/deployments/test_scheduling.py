"""The database is the schedule: the tick claims due rollouts race-free and hands them to
the workers; a lost job or a dead worker's lease costs a rollout seconds, never more."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deployments import engine, jobs, leases
from deployments.models import Rollout, RolloutState

S = RolloutState


@pytest.fixture
def due(alice, staging, make_release):
    def _make(version="1.0.0", **fields):
        values = {
            "state": S.CANARY,
            "steps": [5, 100],
            "next_check_at": timezone.now() - timedelta(seconds=1),
            **fields,
        }
        values.setdefault("environment", staging)
        return Rollout.objects.create(release=make_release(version), started_by=alice, **values)

    return _make


def _queued_jobs():
    return [(j.func_name, j.args) for j in jobs._queue().get_jobs()]


def test_the_tick_enqueues_a_due_rollout_once_with_its_claim(due, redis_conn):
    rollout = due()

    assert jobs.tick() == 1
    assert jobs.tick() == 0  # claimed: the next tick leaves it to the job

    [(func, (rollout_id, owner))] = _queued_jobs()
    assert (func, rollout_id) == ("deployments.jobs.advance_rollout", rollout.pk)
    rollout.refresh_from_db()
    assert rollout.lease_owner == owner and rollout.lease_until > timezone.now()


def test_rollouts_not_due_paused_or_finished_are_left_alone(due, staging, redis_conn):
    due("1.0.0", next_check_at=timezone.now() + timedelta(seconds=30))
    staging.rollouts.update(state=S.SUCCEEDED)
    due("1.0.1", state=S.PAUSED)

    assert jobs.tick() == 0
    assert _queued_jobs() == []


def test_a_job_lost_with_redis_is_handed_out_again_once_its_claim_lapses(due, redis_conn):
    rollout = due()
    owner, claimed = engine.claim_due()
    assert claimed == [rollout.pk]
    redis_conn.flushdb()  # the job is gone

    assert engine.claim_due()[1] == []  # the claim still holds
    later = timezone.now() + timedelta(seconds=leases.LEASE_SECONDS + 0.1)
    assert engine.claim_due(later)[1] == [rollout.pk]


def test_the_lease_of_a_dead_workers_pass_lapses_and_the_rollout_moves_on(due, redis_conn):
    soon = timezone.now() + timedelta(seconds=3)
    rollout = due(lease_owner="job-of-a-killed-worker", lease_until=soon)

    assert engine.claim_due()[1] == []  # a live pass may still be running
    later = timezone.now() + timedelta(seconds=3.1)
    assert engine.claim_due(later)[1] == [rollout.pk]


def test_a_pass_does_not_run_while_another_holds_the_lease(due, redis_conn):
    rollout = due(lease_owner="job-running", lease_until=timezone.now() + timedelta(seconds=5))
    before = rollout.version

    engine.advance(rollout.pk, "job-duplicate")

    rollout.refresh_from_db()
    assert (rollout.version, rollout.lease_owner) == (before, "job-running")
    assert not rollout.events.exists()


def test_a_running_pass_keeps_its_lease_alive(due, redis_conn):
    rollout = due(lease_owner="job-here", lease_until=timezone.now() + timedelta(seconds=1))

    with leases.held(rollout.pk, "job-here"):
        assert leases.renew() == 1

    rollout.refresh_from_db()
    assert rollout.lease_until > timezone.now() + timedelta(seconds=leases.LEASE_SECONDS - 1)


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_claim_each_rollout_once(due, production, redis_conn):
    ids = {due("2.0.0").pk, due("2.0.1", environment=production).pk}
    barrier = threading.Barrier(2)
    claims: list[list[int]] = []

    def tick():
        try:
            barrier.wait()
            claims.append(engine.claim_due()[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(pk for claim in claims for pk in claim) == sorted(ids)
