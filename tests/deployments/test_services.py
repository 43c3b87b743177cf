"""Service functions without Google: rules, audit events and what they enqueue."""

import django_rq
import pytest
from django.core.exceptions import PermissionDenied

from deployments import services
from deployments.errors import Conflict, DeploymentError, RolloutConflict
from deployments.models import Rollout, RolloutState
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image

S = RolloutState


def _succeeded(release, environment, user):
    return Rollout.objects.create(
        release=release,
        environment=environment,
        started_by=user,
        state=S.SUCCEEDED,
        revisions={"api-server": {"canary": "api-server-x"}},
    )


def test_create_release_validates_every_field_and_keeps_nothing_on_error(alice):
    with pytest.raises(DeploymentError) as exc:
        services.create_release(alice, "1.4", {"api-server": "nginx:latest"})
    assert "version:" in exc.value.message and "artifacts.api-server:" in exc.value.message
    assert not AuditEvent.objects.filter(action="release.created").exists()


def test_create_release_writes_artifacts_and_audit(alice):
    release = services.create_release(alice, "1.4.0", {"api-server": image("api-server")}, "n")
    assert release.images() == {"api-server": image("api-server")}
    event = AuditEvent.objects.get(action="release.created")
    assert event.actor == "alice" and event.object_id == str(release.pk)


def test_a_release_version_is_registered_once(alice):
    services.create_release(alice, "1.4.0", {"api-server": image("api-server")})
    with pytest.raises(Conflict, match="exists already"):
        services.create_release(alice, "1.4.0", {"api-server": image("api-server")})


def test_start_rollout_queues_and_enqueues_on_commit(
    alice, staging, make_release, redis_conn, django_capture_on_commit_callbacks
):
    release = make_release("1.4.0")
    queue = django_rq.get_queue("deploys")
    with django_capture_on_commit_callbacks(execute=True):
        rollout = services.start_rollout(alice, release, staging, "canary")
        assert queue.count == 0  # nothing is enqueued before the commit
    assert rollout.state == S.QUEUED and rollout.steps == staging.canary_steps
    [job] = queue.jobs
    assert job.func_name == "deployments.jobs.advance_rollout"
    assert job.args[0] == rollout.pk
    assert AuditEvent.objects.filter(action="rollout.started", object_id=str(rollout.pk)).exists()


def test_all_at_once_has_a_single_100_step(alice, staging, make_release):
    rollout = services.start_rollout(alice, make_release("1.4.0"), staging, "all_at_once")
    assert rollout.steps == [100]


def test_unknown_strategy_is_refused(alice, staging, make_release):
    with pytest.raises(DeploymentError, match="Unknown strategy 'yolo'"):
        services.start_rollout(alice, make_release("1.4.0"), staging, "yolo")


def test_a_second_active_rollout_in_an_environment_is_a_conflict(alice, bob, staging, make_release):
    services.start_rollout(alice, make_release("1.4.0"), staging)
    with pytest.raises(RolloutConflict, match="staging already has an active rollout"):
        services.start_rollout(bob, make_release("1.4.1"), staging)
    assert Rollout.objects.filter(environment=staging).count() == 1


def test_release_with_a_service_the_environment_lacks_is_refused(alice, staging, make_release):
    with pytest.raises(DeploymentError, match="carries nosuch"):
        services.start_rollout(alice, make_release("1.4.0", services=("nosuch",)), staging)


def test_production_only_takes_releases_that_succeeded_in_staging(
    alice, staging, production, make_release
):
    release = make_release("1.4.0")
    with pytest.raises(DeploymentError, match="has not succeeded in staging"):
        services.start_rollout(alice, release, production)
    _succeeded(release, staging, alice)
    rollout = services.start_rollout(alice, release, production)
    assert rollout.state == S.PENDING_APPROVAL


def test_the_starter_cannot_approve_their_own_rollout(
    alice, bob, admin_user, production, staging, make_release
):
    release = make_release("1.4.0")
    _succeeded(release, staging, alice)
    rollout = services.start_rollout(alice, release, production)
    with pytest.raises(PermissionDenied):
        services.approve(alice, rollout)  # alice is no approver anyway
    mine = Rollout.objects.filter(pk=rollout.pk)
    mine.update(started_by=admin_user)
    with pytest.raises(PermissionDenied, match="another approver must approve"):
        services.approve(admin_user, rollout)
    approved = services.approve(bob, rollout)
    assert approved.state == S.QUEUED and approved.approved_by == bob
    assert AuditEvent.objects.filter(action="rollout.approved", actor="bob").exists()


def test_reject_needs_a_reason_and_finishes_the_rollout(
    alice, bob, staging, production, make_release
):
    release = make_release("1.4.0")
    _succeeded(release, staging, alice)
    rollout = services.start_rollout(alice, release, production)
    with pytest.raises(DeploymentError, match="reason is required"):
        services.reject(bob, rollout, "  ")
    rejected = services.reject(bob, rollout, "not during the sale")
    assert rejected.state == S.REJECTED and "not during the sale" in rejected.message
    assert not rejected.is_active


def test_pause_resume_promote_move_a_canary(alice, staging, make_release):
    rollout = Rollout.objects.create(
        release=make_release("1.4.0"),
        environment=staging,
        started_by=alice,
        state=S.CANARY,
        steps=[5, 25, 50, 100],
        step=1,
    )
    paused = services.pause(alice, rollout)
    assert paused.state == S.PAUSED and paused.paused_from == S.CANARY
    with pytest.raises(DeploymentError, match="cannot be paused"):
        services.pause(alice, rollout)
    resumed = services.resume(alice, rollout)
    assert resumed.state == S.CANARY and resumed.step_started_at is None
    promoted = services.promote(alice, rollout)
    assert promoted.step == 3 and promoted.state == S.CANARY
    actions = set(
        AuditEvent.objects.filter(object_id=str(rollout.pk)).values_list("action", flat=True)
    )
    assert {"rollout.paused", "rollout.resumed", "rollout.promoted"} <= actions


def test_abort_before_deploying_ends_at_once_and_after_rolls_back(alice, staging, make_release):
    waiting = services.start_rollout(alice, make_release("1.4.0"), staging)
    assert services.abort(alice, waiting, "wrong build").state == S.ABORTED
    running = Rollout.objects.create(
        release=make_release("1.4.1"), environment=staging, started_by=alice, state=S.CANARY
    )
    aborted = services.abort(alice, running)
    assert aborted.state == S.ROLLING_BACK and aborted.aborted_by == alice


def test_rollback_defaults_to_the_previous_succeeded_release(alice, staging, make_release):
    old, new = make_release("1.3.2"), make_release("1.4.0")
    _succeeded(old, staging, alice)
    _succeeded(new, staging, alice)
    rollout = services.rollback(alice, staging)
    assert rollout.release == old and rollout.kind == Rollout.Kind.ROLLBACK
    assert rollout.strategy == Rollout.Strategy.ALL_AT_ONCE


def test_a_rollout_keeps_the_plan_it_started_with(alice, staging, make_release):
    release = make_release("1.4.0", services=("agent", "api-server"))
    rollout = services.start_rollout(alice, release, staging, "canary")

    staging.services.filter(name="agent").delete()  # the platform changes mid-rollout

    rollout.refresh_from_db()
    assert rollout.plan == [  # in the environment's service order, images pinned
        {"service": "api-server", "kind": "cloud_run", "image": image("api-server", "", "b")},
        {"service": "agent", "kind": "cloud_run", "image": image("agent", "", "b")},
    ]


def test_a_rollback_leaves_out_a_service_the_environment_no_longer_has(
    alice, staging, make_release
):
    old, new = make_release("1.3.2"), make_release("1.4.0")
    _succeeded(old, staging, alice)
    _succeeded(new, staging, alice)
    staging.services.filter(name="realtime").delete()

    rollout = services.rollback(alice, staging)

    assert [p["service"] for p in rollout.plan] == ["api-server", "agent"]


def test_rollback_refuses_a_release_that_never_succeeded_there(alice, staging, make_release):
    make_release("1.3.2")
    with pytest.raises(DeploymentError, match="never succeeded in staging"):
        services.rollback(alice, staging, "1.3.2")


def test_allowed_actions_show_only_what_the_viewer_may_do(
    alice, bob, dave, production, make_release
):
    rollout = Rollout.objects.create(
        release=make_release("1.4.0"),
        environment=production,
        started_by=alice,
        state=S.PENDING_APPROVAL,
    )
    assert services.allowed_actions(bob, rollout) == {"approve", "reject"}
    assert services.allowed_actions(alice, rollout) == {"abort"}
    assert services.allowed_actions(dave, rollout) == set()


def test_rollback_choices_are_earlier_succeeded_releases_not_the_live_one(
    alice, staging, make_release
):
    old, live = make_release("1.3.0"), make_release("1.4.0")
    _succeeded(old, staging, alice)
    _succeeded(live, staging, alice)
    assert services.rollback_choices(staging) == [old]
    with pytest.raises(DeploymentError, match="already live"):
        services.rollback(alice, staging, "1.4.0")
