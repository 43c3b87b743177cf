"""/healthz: the web's own dependencies (503 when down) and the background side (a stalled
rollout engine or a missing cron scheduler makes it "degraded", with a sentence)."""

import os
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from deployments.models import Rollout, RolloutState
from tests.deployments.conftest import CRON, Worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cron(redis_conn):
    """The Procfile's cron process, running against the test database and Redis."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tests.deployments.worker_settings",
    }
    process = Worker(env, CRON).start()
    yield process
    process.stop()
    process.log.close()


def _healthz(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


def test_healthz_is_ok_with_the_database_redis_a_cron_and_no_overdue_rollout(client, cron):
    wait_for(lambda: _healthz(client)[1]["cron"] == "ok", 20, what="the cron's heartbeat")

    assert _healthz(client) == (
        200,
        {"status": "ok", "database": "ok", "redis": "ok", "cron": "ok", "rollouts": "ok"},
    )


def test_healthz_says_degraded_when_no_cron_scheduler_runs(client, redis_conn):
    status, body = _healthz(client)

    assert status == 200  # the web itself serves
    assert body["status"] == "degraded" and "no cron scheduler is running" in body["cron"]


def test_healthz_names_a_rollout_left_past_its_due_time(client, cron, alice, staging, make_release):
    late = Rollout.objects.create(
        release=make_release("1.0.0"),
        environment=staging,
        started_by=alice,
        state=RolloutState.CANARY,
        steps=[5, 100],
        next_check_at=timezone.now() - timedelta(minutes=5),
    )
    # The cron's tick would hand it to a worker; there is none, so it stays overdue.
    time.sleep(1.5)

    status, body = _healthz(client)

    assert status == 200 and body["status"] == "degraded"
    assert f"the oldest, #{late.pk}, is 3" in body["rollouts"]  # 300-odd seconds past due


def test_healthz_is_503_when_redis_is_down(client):
    import django_rq.queues

    dead = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("deploys", "default", "billing")}
    with override_settings(RQ_QUEUES=dead):
        if hasattr(django_rq.queues.get_redis_connection, "cache_clear"):
            django_rq.queues.get_redis_connection.cache_clear()
        status, body = _healthz(client)
    assert status == 503
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert "Connection" in body["redis"]
