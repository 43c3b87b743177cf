"""Roles × environments for every state-changing deployments service function.

Allowed: the change happens and its audit event is written. Denied: PermissionDenied,
nothing changes, no audit event.
"""

import pytest
from django.core.exceptions import PermissionDenied

from deployments import services
from deployments.models import Release, Rollout, RolloutState
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image

S = RolloutState
USERS = ["alice", "bob", "carol", "dave", "admin"]
# Who holds which role where (tests/conftest.py).
HOLDERS = {
    ("staging", "deployer"): {"alice", "bob", "admin"},
    ("staging", "approver"): {"admin"},
    ("production", "deployer"): {"alice", "admin"},
    ("production", "approver"): {"bob", "admin"},
}
# function → (role needed, state the rollout starts in, audit action)
CONTROLS = {
    "approve": ("approver", S.PENDING_APPROVAL, "rollout.approved"),
    "reject": ("approver", S.PENDING_APPROVAL, "rollout.rejected"),
    "pause": ("deployer", S.CANARY, "rollout.paused"),
    "resume": ("deployer", S.PAUSED, "rollout.resumed"),
    "promote": ("deployer", S.CANARY, "rollout.promoted"),
    "abort": ("deployer", S.CANARY, "rollout.aborted"),
}


@pytest.fixture
def people(alice, bob, carol, dave, admin_user):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "admin": admin_user}


@pytest.fixture
def starter(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("erin")  # starts rollouts nobody else owns


def _release(version="1.4.0"):
    release = Release.objects.create(version=version)
    release.artifacts.create(service_name="api-server", image=image("api-server"))
    return release


@pytest.mark.parametrize("env_slug", ["staging", "production"])
@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("action", sorted(CONTROLS))
def test_rollout_controls(action, username, env_slug, people, platform, starter):
    role, state, audit_action = CONTROLS[action]
    env = platform[env_slug]
    rollout = Rollout.objects.create(
        release=_release(),
        environment=env,
        started_by=starter,
        state=state,
        paused_from=S.CANARY if state == S.PAUSED else "",
        steps=[5, 25, 50, 100],
    )
    user = people[username]
    allowed = username in HOLDERS[(env_slug, role)]
    if allowed:
        services.apply_action(user, rollout, action, "a reason")
        rollout.refresh_from_db()
        assert rollout.state != state or action == "promote"
        assert AuditEvent.objects.filter(action=audit_action, actor=username).exists()
    else:
        with pytest.raises(PermissionDenied, match=f"needs the {role} role on {env_slug}"):
            services.apply_action(user, rollout, action, "a reason")
        rollout.refresh_from_db()
        assert rollout.state == state
        assert not AuditEvent.objects.filter(action=audit_action).exists()


@pytest.mark.parametrize("env_slug", ["staging", "production"])
@pytest.mark.parametrize("username", USERS)
def test_start_rollout(username, env_slug, people, platform, starter):
    env = platform[env_slug]
    release = _release()
    Rollout.objects.create(  # the promotion rule is satisfied for production
        release=release, environment=platform["staging"], started_by=starter, state=S.SUCCEEDED
    )
    allowed = username in HOLDERS[(env_slug, "deployer")]
    if allowed:
        rollout = services.start_rollout(people[username], release, env)
        assert rollout.is_active
        assert AuditEvent.objects.filter(action="rollout.started", actor=username).exists()
    else:
        with pytest.raises(PermissionDenied, match=f"needs the deployer role on {env_slug}"):
            services.start_rollout(people[username], release, env)
        assert not Rollout.objects.filter(environment=env, state__in=S.active()).exists()


@pytest.mark.parametrize("env_slug", ["staging", "production"])
@pytest.mark.parametrize("username", USERS)
def test_rollback(username, env_slug, people, platform, starter):
    env = platform[env_slug]
    for version in ("1.3.0", "1.4.0"):
        Rollout.objects.create(
            release=_release(version), environment=env, started_by=starter, state=S.SUCCEEDED
        )
    allowed = username in HOLDERS[(env_slug, "deployer")]
    if allowed:
        rollout = services.rollback(people[username], env)
        assert rollout.release.version == "1.3.0"
        assert AuditEvent.objects.filter(action="rollout.rollback_started").exists()
    else:
        with pytest.raises(PermissionDenied, match="needs the deployer role"):
            services.rollback(people[username], env)
        assert not Rollout.objects.filter(kind=Rollout.Kind.ROLLBACK).exists()


@pytest.mark.parametrize("username", USERS)
def test_create_release_needs_deployer_somewhere(username, people):
    allowed = username in {"alice", "bob", "admin"}
    artifacts = {"api-server": image("api-server")}
    if allowed:
        services.create_release(people[username], "2.0.0", artifacts)
        assert AuditEvent.objects.filter(action="release.created", actor=username).exists()
    else:
        with pytest.raises(PermissionDenied, match="needs the deployer role"):
            services.create_release(people[username], "2.0.0", artifacts)
        assert not Release.objects.filter(version="2.0.0").exists()
