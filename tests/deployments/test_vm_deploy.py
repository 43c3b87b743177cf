"""The LiveKit VM deploy end to end: a real RQ worker, the sandbox's Compute Engine.

The VM's metadata pins the version, the VM is reset and probed; an unhealthy version gets
the previous metadata back (other keys untouched) and a second reset.
"""

import pytest

from deployments import services
from deployments.models import RolloutState
from deployments.naming import request_id
from platform_admin.gcp_compute import get_instance
from platform_admin.models import AuditEvent, VmPhase
from tests.deployments.conftest import image, live_split, live_tags, wait_for_state

S = RolloutState
RUN = ("api-server", "realtime", "agent")
VM = "livekit"
ZONE = "us-central1-a"
pytestmark = pytest.mark.django_db(transaction=True)


def _metadata(env) -> dict[str, str]:
    return get_instance(env.gcp_project, ZONE, VM).metadata


def _vm_calls(sandbox, verb: str) -> list[str]:
    """The request ids of the POSTs `verb` (setMetadata, reset) made to the VM, in order."""
    suffix = f"/instances/{VM}/{verb}"
    return [
        r["query"]["requestId"]
        for r in sandbox.requests()
        if r["method"] == "POST" and r["path"].endswith(suffix)
    ]


def _timeline(rollout, kind: str) -> list[str]:
    return [e.message for e in rollout.events.filter(kind=kind).order_by("pk")]


def test_a_healthy_version_is_pinned_in_metadata_after_a_reset_and_succeeds(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    before = _metadata(staging)
    assert "startup-script" in before and before["livekit-version"] != "4.0.0"
    release = make_release("4.0.0", services=(VM,))

    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.SUCCEEDED)

    pinned = {"livekit-version": "4.0.0", "livekit-image": image(VM, digest_char="b")}
    assert _metadata(staging) == {**before, **pinned}
    assert _vm_calls(sandbox, "setMetadata") == [request_id(rollout.pk, VM, "metadata")]
    assert _vm_calls(sandbox, "reset") == [request_id(rollout.pk, VM, "reset")]
    assert _timeline(rollout, "vm") == ["livekit: metadata pinned to 4.0.0, reset."]
    [health] = _timeline(rollout, "health")
    assert health.startswith("livekit healthy after reset") and "answered 200" in health
    assert rollout.revisions[VM]["previous_metadata"] == {
        "livekit-version": before["livekit-version"],
        "livekit-image": None,
    }


def test_an_unhealthy_version_fails_and_the_previous_metadata_comes_back(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    sandbox.fault(project=staging.gcp_project, instance=VM, version="4.1.0", healthy=False)
    before = _metadata(staging)
    rollout = services.start_rollout(
        alice, make_release("4.1.0", services=(VM,)), staging, "all_at_once"
    )

    wait_for_state(rollout, S.FAILED)

    assert "livekit failed its health check" in rollout.message
    assert "previous metadata was restored" in rollout.message
    assert _metadata(staging) == before  # version back, livekit-image gone, script kept
    assert _vm_calls(sandbox, "setMetadata") == [
        request_id(rollout.pk, VM, "metadata"),
        request_id(rollout.pk, VM, "restore-metadata"),
    ]
    assert _vm_calls(sandbox, "reset") == [
        request_id(rollout.pk, VM, "reset"),
        request_id(rollout.pk, VM, "restore-reset"),
    ]
    assert _timeline(rollout, "vm") == [
        "livekit: metadata pinned to 4.1.0, reset.",
        "livekit: previous metadata restored, reset.",
    ]
    [health] = _timeline(rollout, "health")
    assert "failed its health check" in health and "answered 503" in health
    assert _timeline(rollout, "failed") == [rollout.message]


def _kinds_in_order(rollout) -> list[str]:
    return list(rollout.events.order_by("pk").values_list("kind", flat=True))


@pytest.mark.parametrize("phase", ["after_canary", "before_canary"])
def test_the_vm_goes_where_the_environment_says(
    worker, sandbox, fast_plan, staging, alice, make_release, phase
):
    if phase == "before_canary":
        staging.vm_phase = VmPhase.BEFORE
        staging.save()
    release = make_release("4.4.0", services=(*RUN, VM))

    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.SUCCEEDED)

    kinds = _kinds_in_order(rollout)
    first_step, vm_deploy = kinds.index("step"), kinds.index("vm")
    last_step = len(kinds) - 1 - kinds[::-1].index("step")
    assert "100%" in rollout.events.filter(kind="step").order_by("pk").last().message
    if phase == "after_canary":
        assert vm_deploy > last_step
    else:
        assert vm_deploy < first_step
    assert _metadata(staging)["livekit-version"] == "4.4.0"


def test_an_unhealthy_vm_before_the_canary_fails_the_release_before_traffic_moves(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    staging.vm_phase = VmPhase.BEFORE
    staging.save()
    sandbox.fault(project=staging.gcp_project, instance=VM, version="4.2.0", healthy=False)
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    before = _metadata(staging)
    release = make_release("4.2.0", services=(*RUN, VM))

    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    wait_for_state(rollout, S.FAILED)

    assert "livekit failed its health check" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
        assert list(stable[service].values()) == [100]
        assert "canary" not in live_tags(sandbox, staging, service)  # the 0% revision untagged
    assert not rollout.events.filter(kind="step").exists()
    assert _metadata(staging) == before


@pytest.mark.parametrize("phase", ["after_canary", "before_canary"])
def test_a_canary_rolled_back_on_cloud_run_errors_leaves_the_vm_as_it_was(
    worker, sandbox, fast_plan, staging, alice, make_release, phase
):
    staging.vm_phase = phase
    staging.save()
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    before = _metadata(staging)
    release = make_release("4.3.0", services=(*RUN, VM), tag="4.3.0-faulty")

    rollout = services.start_rollout(alice, release, staging, "canary")
    wait_for_state(rollout, S.ROLLED_BACK)

    assert "canary error rate" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
        assert "canary" not in live_tags(sandbox, staging, service)
    assert _metadata(staging) == before
    if phase == "after_canary":  # the default: a failed canary never touched the VM
        assert _vm_calls(sandbox, "setMetadata") == [] and _vm_calls(sandbox, "reset") == []
        return
    assert _vm_calls(sandbox, "reset") == [
        request_id(rollout.pk, VM, "reset"),
        request_id(rollout.pk, VM, "restore-reset"),
    ]
    assert _timeline(rollout, "vm")[-1] == "livekit: previous metadata restored, reset."


def test_an_unhealthy_vm_after_the_canary_leaves_cloud_run_on_the_new_revisions(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    sandbox.fault(project=staging.gcp_project, instance=VM, version="4.5.0", healthy=False)
    before = _metadata(staging)
    rollout = services.start_rollout(
        alice, make_release("4.5.0", services=(*RUN, VM)), staging, "canary"
    )
    wait_for_state(rollout, S.FAILED)

    rollout.refresh_from_db()
    assert "livekit failed its health check" in rollout.message
    assert "stay on the new revisions" in rollout.message and "release_is_atomic" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == {rollout.revisions[service]["canary"]: 100}
    assert _metadata(staging) == before


def test_an_unhealthy_vm_of_an_atomic_release_rolls_cloud_run_back_too(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    staging.release_is_atomic = True
    staging.save()
    sandbox.fault(project=staging.gcp_project, instance=VM, version="4.6.0", healthy=False)
    stable = {s: live_split(sandbox, staging, s) for s in RUN}
    before = _metadata(staging)
    rollout = services.start_rollout(
        alice, make_release("4.6.0", services=(*RUN, VM)), staging, "canary"
    )
    wait_for_state(rollout, S.ROLLED_BACK)

    assert "livekit failed its health check" in rollout.message
    for service in RUN:
        assert live_split(sandbox, staging, service) == stable[service]
    assert _metadata(staging) == before


def test_a_refused_reset_after_the_metadata_write_puts_the_metadata_back(
    worker, sandbox, fast_plan, staging, alice, make_release
):
    before = _metadata(staging)
    # The first reset is refused (not retryable); the metadata write before it went through.
    sandbox.api_fault(method="POST", path_regex=f"instances/{VM}/reset", status=403, times=1)
    rollout = services.start_rollout(
        alice, make_release("4.2.0", services=(VM,)), staging, "all_at_once"
    )

    wait_for_state(rollout, S.FAILED)

    assert "permission denied" in rollout.message.lower()
    assert _metadata(staging) == before
    assert _vm_calls(sandbox, "setMetadata") == [
        request_id(rollout.pk, VM, "metadata"),
        request_id(rollout.pk, VM, "restore-metadata"),
    ]
    audit = AuditEvent.objects.get(action="rollout.failed", object_id=str(rollout.pk))
    assert audit.actor == "system" and audit.detail["from"] == "deploying"
