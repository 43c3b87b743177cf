"""State changes owned by platform_admin: role grants."""

from django.db import transaction

from platform_admin import audit
from platform_admin.models import Role, RoleGrant
from platform_admin.roles import forget_cached_roles, require


@transaction.atomic
def grant_role(actor, user, role: str, environment=None) -> RoleGrant:
    """Give `user` a role on `environment` (None = every environment). Admins only."""
    require(actor, Role.ADMIN, environment, "grant roles")
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    grant, created = RoleGrant.objects.get_or_create(
        user=user, role=role, environment=environment, defaults={"granted_by": actor}
    )
    if created:
        audit.record(
            "role.granted",
            actor=actor,
            obj=user,
            environment=environment.slug if environment else "",
            detail={"user": user.username, "role": role},
        )
        forget_cached_roles(user)
    return grant


@transaction.atomic
def revoke_role(actor, user, role: str, environment=None) -> bool:
    require(actor, Role.ADMIN, environment, "revoke roles")
    deleted, _ = RoleGrant.objects.filter(user=user, role=role, environment=environment).delete()
    if deleted:
        audit.record(
            "role.revoked",
            actor=actor,
            obj=user,
            environment=environment.slug if environment else "",
            detail={"user": user.username, "role": role},
        )
        forget_cached_roles(user)
    return bool(deleted)
