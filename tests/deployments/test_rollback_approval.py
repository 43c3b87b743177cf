"""A rollback follows the environment's approval rule; skipping it is an explicit,
audited emergency with a reason."""

import django_rq
import pytest
from django.utils import timezone

from deployments import services
from deployments.errors import DeploymentError
from deployments.models import Rollout, RolloutState
from platform_admin.models import AuditEvent

S = RolloutState


def _succeeded(environment, user, make_release, versions=("8.0.0", "8.1.0")):
    for version in versions:
        Rollout.objects.create(
            release=make_release(version),
            environment=environment,
            state=S.SUCCEEDED,
            steps=[100],
            started_by=user,
            finished_at=timezone.now(),
        )


@pytest.fixture
def two_releases_live_in_production(alice, production, make_release):
    _succeeded(production, alice, make_release)


def _deploy_jobs():
    return [j.args[0] for j in django_rq.get_queue("deploys").get_jobs()]


def test_a_production_rollback_waits_for_a_second_person(
    alice,
    bob,
    two_releases_live_in_production,
    production,
    redis_conn,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        back = services.rollback(alice, production)

    assert back.state == S.PENDING_APPROVAL and back.release.version == "8.0.0"
    assert _deploy_jobs() == []  # no job until approved
    assert "approve" in services.allowed_actions(bob, back)
    assert "approve" not in services.allowed_actions(alice, back)
    services.approve(bob, back)
    back.refresh_from_db()
    assert back.state == S.QUEUED and back.approved_by == bob


def test_an_emergency_rollback_needs_a_reason(alice, two_releases_live_in_production, production):
    with pytest.raises(DeploymentError, match="cannot wait for approval"):
        services.rollback(alice, production, emergency=True, reason="  ")
    assert production.rollouts.filter(kind=Rollout.Kind.ROLLBACK).count() == 0


def test_an_emergency_rollback_goes_at_once_and_the_trail_says_who_and_why(
    alice,
    two_releases_live_in_production,
    production,
    redis_conn,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        back = services.rollback(alice, production, emergency=True, reason="checkout is down")

    assert back.state == S.QUEUED and _deploy_jobs() == [back.pk]
    event = AuditEvent.objects.get(action="rollout.rollback_started", object_id=str(back.pk))
    assert event.actor == "alice"
    assert event.detail["emergency"] is True and event.detail["reason"] == "checkout is down"
    assert back.events.get(kind="emergency").message.endswith("checkout is down")


def test_a_staging_rollback_needs_no_approval(alice, staging, make_release):
    _succeeded(staging, alice, make_release)

    assert services.rollback(alice, staging).state == S.QUEUED


def test_the_page_offers_the_emergency_path_where_approval_is_required(
    client, alice, two_releases_live_in_production
):
    client.force_login(alice)

    page = client.get("/deployments/environments/production/").content.decode()
    client.post(
        "/deployments/environments/production/rollback/",
        {"release": "8.0.0", "emergency": "on", "reason": "pager says so"},
    )

    assert 'name="emergency"' in page
    back = Rollout.objects.get(kind=Rollout.Kind.ROLLBACK)
    assert back.state == S.QUEUED and back.events.filter(kind="emergency").exists()
