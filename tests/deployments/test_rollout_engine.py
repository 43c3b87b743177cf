"""The engine end to end: real Redis, a real RQ worker process and the sandbox."""

import threading

import pytest
from django.db import connection

from deployments import services
from deployments.errors import RolloutConflict
from deployments.models import RolloutState
from deployments.naming import revision_name
from platform_admin.models import AuditEvent
from tests.deployments.conftest import (
    finishes_after_a_kill,
    image,
    live_split,
    wait_for,
    wait_for_state,
)

S = RolloutState
RUN = ("api-server", "realtime", "agent")
pytestmark = pytest.mark.django_db(transaction=True)


def _revisions(sandbox, env, service):
    prefix = f"projects/{env.gcp_project}/locations/{env.region}/services/{service}/revisions/"
    return [name[len(prefix) :] for name in sandbox.state()["revisions"] if name.startswith(prefix)]


def test_healthy_canary_steps_5_25_50_100_and_ends_on_the_new_revisions(
    worker, fast_plan, staging, alice, make_release, slack
):
    before = {s: live_split(worker_sandbox(worker), staging, s) for s in RUN}
    mark = len(worker_sandbox(worker).requests())
    rollout = services.start_rollout(alice, make_release("1.4.0"), staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED)
    sandbox = worker_sandbox(worker)
    for service in RUN:
        new = revision_name(service, "1.4.0", rollout.pk)
        assert live_split(sandbox, staging, service) == {new: 100}
        assert rollout.revisions[service]["stable"] in before[service]
    steps = [e.data["percent"] for e in rollout.events.filter(kind="step")]
    assert steps == [5, 25, 50, 100]
    analyses = rollout.events.filter(kind="analysis")
    assert analyses.count() >= 9 and all(a.data["verdict"] == "pass" for a in analyses)
    assert {"canary", "stable", "thresholds"} <= set(analyses[0].data)
    reads = [r for r in sandbox.requests(mark) if r["method"] == "GRPC"]
    # One read a check for all the services: counts, latencies, billable instance time.
    assert len(reads) == 3 * analyses.count() // len(RUN)
    assert AuditEvent.objects.filter(
        action="rollout.succeeded", actor="system", object_id=str(rollout.pk)
    ).exists()
    wait_for(lambda: any("is live on staging" in m for m in slack), 10, what="slack success")
    assert any("started" in m for m in slack)


def test_faulty_release_is_rolled_back_at_the_first_step_with_the_reason(
    worker, fast_plan, staging, alice, make_release
):
    sandbox = worker_sandbox(worker)
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    release = make_release("1.5.0", tag="1.5.0-faulty")
    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.ROLLED_BACK)
    assert "canary error rate" in rollout.message and "at step 5%" in rollout.message
    assert "> 0.5%" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
    assert [e.data["percent"] for e in rollout.events.filter(kind="step")] == [5]
    # The automatic rollback is in the audit trail, by the system, with the reason.
    trail = AuditEvent.objects.filter(object_type="rollout", object_id=str(rollout.pk))
    actions = list(trail.order_by("id").values_list("action", "actor"))
    assert ("rollout.rolling_back", "system") in actions
    assert actions[-1] == ("rollout.rolled_back", "system")
    assert "canary error rate" in trail.get(action="rollout.rolling_back").detail["message"]


def test_a_revision_that_never_gets_ready_fails_without_touching_traffic(
    worker, fast_plan, staging, alice, make_release
):
    sandbox = worker_sandbox(worker)
    release = make_release("1.6.0", digest_char="c")
    sandbox.fault(image=image("agent", digest_char="c"), ready=False)
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.FAILED)
    assert "agent" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
    assert not rollout.events.filter(kind="step").exists()


def test_a_sigkilled_worker_is_replaced_and_the_rollout_completes_without_duplicates(
    worker, fast_plan, staging, alice, make_release, redis_conn
):
    staging.bake_seconds = 2
    staging.save()
    rollout = services.start_rollout(alice, make_release("1.7.0"), staging, "canary")

    def mid_canary():
        rollout.refresh_from_db()
        return rollout.state == S.CANARY and rollout.step >= 1

    wait_for(mid_canary, 30, what="the canary to reach its second step")
    finishes_after_a_kill(worker, rollout, S.SUCCEEDED)
    sandbox = worker_sandbox(worker)
    for service in RUN:
        new = revision_name(service, "1.7.0", rollout.pk)
        assert live_split(sandbox, staging, service) == {new: 100}
        ours = [r for r in _revisions(sandbox, staging, service) if r.endswith(f"-r{rollout.pk}")]
        assert ours == [new]


def test_an_injected_503_burst_is_retried_and_the_rollout_completes(
    worker, fast_plan, staging, alice, make_release
):
    sandbox = worker_sandbox(worker)
    sandbox.api_fault(method="PATCH", path_regex="services/api-server", status=503, times=4)
    rollout = services.start_rollout(alice, make_release("1.8.0"), staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED, timeout=60)
    new = revision_name("api-server", "1.8.0", rollout.pk)
    assert live_split(sandbox, staging, "api-server") == {new: 100}


def test_all_at_once_goes_straight_to_100(worker, fast_plan, staging, alice, make_release):
    rollout = services.start_rollout(
        alice, make_release("1.9.0", services=("api-server",)), staging, "all_at_once"
    )
    wait_for_state(rollout, S.SUCCEEDED)
    sandbox = worker_sandbox(worker)
    assert live_split(sandbox, staging, "api-server") == {
        revision_name("api-server", "1.9.0", rollout.pk): 100
    }
    assert [e.data["percent"] for e in rollout.events.filter(kind="step")] == [100]


def test_rollback_puts_the_earlier_release_back(worker, fast_plan, staging, alice, make_release):
    first = services.start_rollout(
        alice, make_release("2.0.0", services=("api-server",)), staging, "all_at_once"
    )
    wait_for_state(first, S.SUCCEEDED)
    second = services.start_rollout(
        alice, make_release("2.1.0", services=("api-server",)), staging, "all_at_once"
    )
    wait_for_state(second, S.SUCCEEDED)
    back = services.rollback(alice, staging)
    wait_for_state(back, S.SUCCEEDED)
    sandbox = worker_sandbox(worker)
    assert live_split(sandbox, staging, "api-server") == {
        first.revisions["api-server"]["canary"]: 100
    }


def test_two_simultaneous_starts_make_exactly_one_rollout(
    fast_plan, staging, alice, bob, make_release, redis_conn
):
    releases = [make_release("3.0.0"), make_release("3.0.1")]
    barrier = threading.Barrier(2)
    outcomes = []

    def start(user, release):
        try:
            barrier.wait()
            outcomes.append(services.start_rollout(user, release, staging))
        except RolloutConflict as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(u, r)) for u, r in zip((alice, bob), releases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    conflicts = [o for o in outcomes if isinstance(o, RolloutConflict)]
    assert len(outcomes) == 2 and len(conflicts) == 1
    assert "already has an active rollout" in conflicts[0].message
    assert staging.rollouts.count() == 1


def worker_sandbox(worker):
    from tests.deployments import conftest

    return conftest.CURRENT_SANDBOX
