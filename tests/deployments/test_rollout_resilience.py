"""A pass holds no lock across Google, a crash never loops, and no single process's death
strands a rollout: real worker and cron processes, real Redis, the sandbox."""

import time

import pytest
from django.utils import timezone

from deployments import engine, services
from deployments.models import RolloutState
from deployments.naming import revision_name
from platform_admin.models import AuditEvent
from tests.deployments.conftest import (
    CRON,
    Worker,
    finishes_after_a_kill,
    image,
    live_split,
    wait_for,
    wait_for_state,
)

S = RolloutState
RUN = ("api-server", "realtime", "agent")
pytestmark = pytest.mark.django_db(transaction=True)
# After a process dies a rollout may wait for its lease to lapse and the next tick: this
# many seconds past its due time at most.
MOST_LATE_S = 6 + 1 + 2


def _waiting_on_google(sandbox, rollout):
    """The deploy pass has sent its PATCHes and waits on the operations."""
    rollout.refresh_from_db()
    patches = [r for r in sandbox.requests() if "services/" in r["path"] and r["method"] == "PATCH"]
    return rollout.state == S.DEPLOYING and len(patches) >= 1


def _timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def _steps_lateness(rollout) -> list[float]:
    """How late each step's split went out beyond the previous step's bake."""
    times = list(rollout.events.filter(kind="step").values_list("created_at", flat=True))
    bake = rollout.environment.bake_seconds
    return [(b - a).total_seconds() - bake for a, b in zip(times, times[1:], strict=False)]


def test_pause_answers_at_once_while_a_pass_waits_on_a_slow_operation_and_wins(
    worker, fast_plan, staging, alice, make_release, gcp
):
    gcp.fault(image=image("api-server", digest_char="d"), ready_delay=6)
    release = make_release("4.0.0", digest_char="d")
    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for(lambda: _waiting_on_google(gcp, rollout), 15, what="the deploy pass to wait")

    paused, took = _timed(lambda: services.pause(alice, rollout))

    assert took < 1.0 and paused.state == S.PAUSED
    # The pass finishes its operation later and leaves the pause alone.
    wait_for(lambda: rollout.events.filter(kind="superseded").exists(), 20, what="the pass")
    rollout.refresh_from_db()
    assert rollout.state == S.PAUSED
    assert all(rollout.revisions[s].get("stable") for s in RUN)  # what Google did is kept
    services.resume(alice, rollout)
    wait_for_state(rollout, S.SUCCEEDED, timeout=60)
    assert live_split(gcp, staging, "api-server") == {
        revision_name("api-server", "4.0.0", rollout.pk): 100
    }


def test_abort_answers_at_once_while_a_pass_waits_and_traffic_stays_on_stable(
    worker, fast_plan, staging, alice, make_release, gcp
):
    stable = {s: live_split(gcp, staging, s) for s in RUN}
    gcp.fault(image=image("agent", digest_char="e"), ready_delay=6)
    rollout = services.start_rollout(alice, make_release("4.1.0", digest_char="e"), staging)
    wait_for(lambda: _waiting_on_google(gcp, rollout), 15, what="the deploy pass to wait")

    aborted, took = _timed(lambda: services.abort(alice, rollout, "wrong release"))

    assert took < 1.0 and aborted.state == S.ROLLING_BACK
    wait_for_state(rollout, S.ABORTED, timeout=40)
    for service in RUN:
        assert live_split(gcp, staging, service) == stable[service]
    assert rollout.aborted_by == alice


def test_a_crashing_pass_is_retried_later_then_errored_with_traffic_back_on_stable(
    worker, fast_plan, staging, alice, make_release, gcp, slack
):
    stable = {s: live_split(gcp, staging, s) for s in RUN}
    rollout = services.start_rollout(alice, make_release("4.2.0"), staging, "canary")
    wait_for(lambda: rollout.events.filter(kind="step").exists(), 30, what="the first split")
    # Every Cloud Monitoring answer now holds booleans where the figures belong.
    gcp.api_fault(method="GRPC", path_regex="ListTimeSeries", malformed=True, times=100)

    wait_for_state(rollout, S.ERRORED, timeout=60)

    crashes = list(rollout.events.filter(kind="crash").order_by("id"))
    assert len(crashes) == engine.MAX_CRASHES
    assert all("ValueError" in c.data["traceback"] for c in crashes)
    assert "without a number" in crashes[0].message and "trying again in" in crashes[0].message
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in zip(crashes, crashes[1:])]
    assert gaps == sorted(gaps) and gaps[-1] >= 1.5  # backed off, not a hot loop
    assert "internal errors" in rollout.message and "stable" in rollout.message
    for service in RUN:
        assert live_split(gcp, staging, service) == stable[service]
    assert AuditEvent.objects.filter(
        action="rollout.errored", actor="system", object_id=str(rollout.pk)
    ).exists()
    wait_for(lambda: any("internal error" in m for m in slack), 10, what="slack")


def test_a_pass_that_crashes_twice_recovers_and_the_rollout_succeeds(
    worker, fast_plan, staging, alice, make_release, gcp
):
    gcp.api_fault(method="GRPC", path_regex="ListTimeSeries", malformed=True, times=2)
    rollout = services.start_rollout(alice, make_release("4.3.0"), staging, "canary")

    wait_for_state(rollout, S.SUCCEEDED, timeout=60)

    assert rollout.events.filter(kind="crash").count() == 2
    assert rollout.crashes == 0


def test_the_traceback_of_a_crash_is_shown_to_admins_only(
    worker, fast_plan, staging, alice, admin_user, make_release, gcp, client
):
    gcp.api_fault(method="GRPC", path_regex="ListTimeSeries", malformed=True, times=1)
    rollout = services.start_rollout(alice, make_release("4.4.0"), staging, "canary")
    wait_for(lambda: rollout.events.filter(kind="crash").exists(), 30, what="a crash")
    url = f"/deployments/rollouts/{rollout.pk}/live/"

    client.force_login(alice)
    assert "Traceback" not in client.get(url).content.decode()
    client.force_login(admin_user)
    assert "ValueError" in client.get(url).content.decode()


@pytest.mark.parametrize("when", ["deploying", "mid-canary"])
def test_a_sigkilled_deploy_worker_replaced_at_once_costs_seconds_not_minutes(
    when, worker, fast_plan, staging, alice, make_release, gcp
):
    staging.bake_seconds = 2
    staging.save()
    if when == "deploying":
        gcp.fault(image=image("realtime", digest_char="f"), ready_delay=3)
    release = make_release("5.0.0", digest_char="f")
    rollout = services.start_rollout(alice, release, staging, "canary")
    if when == "deploying":
        wait_for(lambda: _waiting_on_google(gcp, rollout), 15, what="the deploy pass to wait")
    else:
        wait_for(lambda: rollout.events.filter(kind="step").count() >= 2, 30, what="step 2")
    killed_at = timezone.now()

    finishes_after_a_kill(worker, rollout, S.SUCCEEDED)

    first_step = rollout.events.filter(kind="step").order_by("id").first().created_at
    if when == "deploying":  # the operation was due to finish 3 s after its PATCH
        assert (first_step - killed_at).total_seconds() < 3 + MOST_LATE_S
    assert max(_steps_lateness(rollout)) < MOST_LATE_S
    for service in RUN:
        assert live_split(gcp, staging, service) == {
            revision_name(service, "5.0.0", rollout.pk): 100
        }


def test_a_sigkilled_cron_scheduler_replaced_at_once_keeps_every_step_on_time(
    worker, fast_plan, staging, alice, make_release, gcp
):
    staging.bake_seconds = 2
    staging.save()
    rollout = services.start_rollout(alice, make_release("5.1.0"), staging, "canary")
    wait_for(lambda: rollout.events.filter(kind="step").count() >= 2, 30, what="step 2")

    worker.cron.kill()
    worker.cron = Worker(worker.env, CRON).start()

    wait_for_state(rollout, S.SUCCEEDED, timeout=60)
    assert [e.data["percent"] for e in rollout.events.filter(kind="step")] == [5, 25, 50, 100]
    assert max(_steps_lateness(rollout)) < 3
