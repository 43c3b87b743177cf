"""A release may be corrected until it is deployed anywhere; then it is immutable."""

import pytest
from django.core.exceptions import PermissionDenied

from deployments import services
from deployments.errors import Conflict, DeploymentError
from deployments.models import RolloutState
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image

pytestmark = pytest.mark.django_db


def test_an_undeployed_release_can_be_corrected_and_the_change_is_audited(alice, make_release):
    release = make_release("1.4.0")
    fixed = image("api-server", "2")

    services.update_release(alice, release, notes="fixes login", artifacts={"api-server": fixed})

    release.refresh_from_db()
    assert release.images() == {"api-server": fixed} and release.notes == "fixes login"
    event = AuditEvent.objects.get(action="release.updated")
    assert event.detail["changes"]["artifacts"][1] == {"api-server": fixed}


def test_a_deployed_release_cannot_be_edited(alice, staging, make_release):
    release = make_release("1.4.0")
    before = release.images()
    rollout = services.start_rollout(alice, release, staging, "all_at_once")
    rollout.state = RolloutState.SUCCEEDED
    rollout.save()

    with pytest.raises(Conflict, match=r"1\.4\.0 has been deployed \(staging\).*immutable"):
        services.update_release(alice, release, artifacts={"api-server": image("api-server", "9")})
    assert release.images() == before
    assert not AuditEvent.objects.filter(action="release.updated").exists()


def test_a_release_waiting_for_approval_is_not_yet_deployed(
    alice, production, staging, make_release
):
    release = make_release("1.4.0")
    first = services.start_rollout(alice, release, staging, "all_at_once")
    type(first).objects.filter(pk=first.pk).update(state=RolloutState.SUCCEEDED)
    # Production waits for approval: nothing has reached Google, yet the release is
    # already used by a rollout in progress, so it must not change under the approver.
    services.start_rollout(alice, release, production, "canary")
    with pytest.raises(Conflict, match="production, staging"):
        services.update_release(alice, release, notes="changed")


def test_an_edit_with_a_bad_image_changes_nothing(alice, make_release):
    release = make_release("1.4.0")
    before = release.images()
    with pytest.raises(DeploymentError, match="not pinned by digest"):
        services.update_release(alice, release, artifacts={"api-server": "api:latest"})
    assert release.images() == before


def test_only_deployers_edit_releases(carol, make_release):
    with pytest.raises(PermissionDenied, match="needs the deployer role"):
        services.update_release(carol, make_release("1.4.0"), notes="x")
