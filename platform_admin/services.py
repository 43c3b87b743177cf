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
    """Take a role away from `user` on `environment`; False if they did not hold it."""
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


@transaction.atomic
def change_grant(actor, grant: RoleGrant, user, role: str, environment=None) -> RoleGrant:
    """Move `grant` to another user, role or scope: a revoke of the old grant and a grant
    of the new one, both audited. Returns the grant that now exists."""
    old = RoleGrant.objects.select_for_update().filter(pk=grant.pk).first()
    if old is None:
        raise ValueError("That role grant no longer exists; it was revoked meanwhile.")
    new_scope = (user.pk, role, getattr(environment, "pk", None))
    if (old.user_id, old.role, old.environment_id) == new_scope:
        return old
    revoke_role(actor, old.user, old.role, old.environment)
    return grant_role(actor, user, role, environment)
