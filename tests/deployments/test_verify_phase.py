"""The verification bake after 100% (Cloud Deploy's verify phase), end to end: a real RQ
worker, the sandbox's Cloud Run and Cloud Monitoring.

Staging deploys all at once; before this phase a faulty image passed on readiness alone.
"""

import pytest

from deployments import services
from deployments.models import RolloutState
from deployments.naming import revision_name
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image, live_split, live_tags, wait_for, wait_for_state

S = RolloutState
RUN = ("api-server", "realtime", "agent")
pytestmark = pytest.mark.django_db(transaction=True)


def _kinds(rollout) -> list[str]:
    return list(rollout.events.order_by("pk").values_list("kind", flat=True))


def test_a_faulty_image_at_100_percent_is_rolled_back_by_the_verification(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    release = make_release("5.0.0", tag="5.0.0-faulty")

    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.ROLLED_BACK)

    # It did reach 100% (readiness passed), then the verification judged it.
    assert [e.data["percent"] for e in rollout.events.filter(kind="step")] == [100]
    assert "error rate" in rollout.message and "in verification" in rollout.message
    assert "> 0.5%" in rollout.message
    kinds = _kinds(rollout)
    assert kinds.index("step") < kinds.index("verifying") < kinds.index("rolling_back")
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]  # their traffic back
        assert "canary" not in live_tags(sandbox, staging, service)
    actions = AuditEvent.objects.filter(object_type="rollout", object_id=str(rollout.pk))
    assert {"rollout.verifying", "rollout.rolling_back", "rollout.rolled_back"} <= set(
        actions.values_list("action", flat=True)
    )


def test_a_healthy_release_is_verified_then_succeeds(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    staging.verify_seconds = 2
    staging.save()
    rollout = services.start_rollout(alice, make_release("5.1.0"), staging, "all_at_once")
    wait_for_state(rollout, S.SUCCEEDED)

    rollout.refresh_from_db()
    assert rollout.verify_seconds == 2
    verified = rollout.events.filter(kind="analysis", data__step=100)
    assert verified.exists() and all(a.data["verdict"] == "pass" for a in verified)
    assert all("in verification" in a.message for a in verified)
    [started] = rollout.events.filter(kind="verifying")
    assert "2 s" in started.message
    done = rollout.events.get(kind="succeeded").created_at
    assert (done - started.created_at).total_seconds() >= 2
    for service in RUN:
        assert live_split(sandbox, staging, service) == {
            revision_name(service, "5.1.0", rollout.pk): 100
        }


def test_verify_seconds_zero_turns_the_verification_off(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    staging.verify_seconds = 0
    staging.save()
    release = make_release("5.2.0", tag="5.2.0-faulty")
    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.SUCCEEDED)  # readiness only, as asked
    assert not rollout.events.filter(kind="verifying").exists()
    assert not rollout.events.filter(kind="analysis").exists()


def test_a_paused_verification_bakes_again_from_the_resume(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    staging.verify_seconds = 3
    staging.save()
    rollout = services.start_rollout(alice, make_release("5.3.0"), staging, "all_at_once")
    wait_for_state(rollout, S.VERIFYING)
    services.pause(alice, rollout)
    rollout.refresh_from_db()
    assert rollout.actions_now() == {"resume", "abort"}  # nothing to promote
    services.resume(alice, rollout)
    wait_for_state(rollout, S.SUCCEEDED)
    starts = rollout.events.filter(kind="verifying").order_by("pk")
    assert starts.count() == 2
    resumed = rollout.events.get(kind="resumed").created_at
    assert starts.last().created_at >= resumed


def test_a_failed_deploy_leaves_no_canary_tag_behind(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    # agent's new revision never gets ready; api-server and realtime got theirs, tagged.
    sandbox.fault(image=image("agent", digest_char="d"), ready=False)
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    release = make_release("5.4.0", digest_char="d")
    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.FAILED)

    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
        assert "canary" not in live_tags(sandbox, staging, service)
    wait_for(lambda: rollout.events.filter(kind="traffic").exists(), 5, what="the untagging")
    assert rollout.events.filter(message__contains="canary tag removed").count() >= 2
