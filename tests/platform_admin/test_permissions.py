"""Roles are granted per environment; service functions refuse what a role does not allow."""

import pytest
from django.core.exceptions import PermissionDenied

from platform_admin.models import Role, RoleGrant
from platform_admin.roles import has_role
from platform_admin.services import grant_role, revoke_role

pytestmark = pytest.mark.django_db


def test_deployer_on_staging_is_not_deployer_on_production(staging, production, django_user_model):
    user = django_user_model.objects.create_user("erin")
    RoleGrant.objects.create(user=user, role=Role.DEPLOYER, environment=staging)

    assert has_role(user, Role.DEPLOYER, staging)
    assert not has_role(user, Role.DEPLOYER, production)
    assert has_role(user, Role.DEPLOYER, anywhere=True)


def test_grant_on_every_environment_covers_each(carol, staging, production):
    assert has_role(carol, Role.FINANCE, staging) and has_role(carol, Role.FINANCE, production)
    assert not has_role(carol, Role.DEPLOYER, staging)


def test_admin_holds_every_role(staging, django_user_model):
    user = django_user_model.objects.create_user("root2")
    RoleGrant.objects.create(user=user, role=Role.ADMIN, environment=None)
    assert all(has_role(user, role, staging) for role in Role.values)


def test_every_signed_in_user_is_a_viewer(dave, production):
    assert has_role(dave, Role.VIEWER, production)
    assert not has_role(dave, Role.DEPLOYER, production)


# The matrix: every state-changing service function of platform_admin, for every role on
# every scope. Only an admin of that scope (or everywhere) may change grants.
SCOPES = ["staging", "production", None]


@pytest.mark.parametrize("held_role", Role.values)
@pytest.mark.parametrize("held_on", SCOPES)
@pytest.mark.parametrize("target_on", SCOPES)
@pytest.mark.parametrize("operation", ["grant", "revoke"])
def test_role_changes_matrix(platform, django_user_model, held_role, held_on, target_on, operation):
    actor = django_user_model.objects.create_user("actor")
    RoleGrant.objects.create(
        user=actor, role=held_role, environment=platform[held_on] if held_on else None
    )
    subject = django_user_model.objects.create_user("subject")
    target = platform[target_on] if target_on else None
    if operation == "revoke":
        RoleGrant.objects.create(user=subject, role=Role.DEPLOYER, environment=target)
    allowed = held_role == Role.ADMIN and (held_on is None or held_on == target_on)

    def act():
        if operation == "grant":
            grant_role(actor, subject, Role.DEPLOYER, target)
        else:
            revoke_role(actor, subject, Role.DEPLOYER, target)

    if allowed:
        act()
    else:
        with pytest.raises(PermissionDenied, match="needs the admin role"):
            act()
    exists = RoleGrant.objects.filter(user=subject, role=Role.DEPLOYER, environment=target).exists()
    assert exists == ((operation == "grant") == allowed)


def test_grant_is_audited_with_who_and_where(admin_user, staging, dave):
    from platform_admin.models import AuditEvent

    grant_role(admin_user, dave, Role.DEPLOYER, staging)

    event = AuditEvent.objects.get(action="role.granted")
    assert (event.actor, event.environment) == ("admin", "staging")
    assert event.detail == {"user": "dave", "role": "deployer"}
