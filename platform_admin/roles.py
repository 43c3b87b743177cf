"""Who may do what, where. Service functions call `require()`; templates only read."""

from django.core.exceptions import PermissionDenied

from platform_admin.models import Role, RoleGrant


def roles_for(user, environment=None, *, anywhere: bool = False) -> set[str]:
    """The roles `user` holds on `environment`.

    `environment=None` asks about platform-wide grants only; `anywhere=True` counts a
    grant on any environment ("may deploy somewhere", e.g. to register a release).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser:
        return set(Role.values)
    env_id = getattr(environment, "pk", None)
    held = {
        role
        for role, scope in _grant_cache(user)
        if anywhere or scope is None or (env_id is not None and scope == env_id)
    }
    if Role.ADMIN in held:
        return set(Role.values)
    return held | {Role.VIEWER}


def has_role(user, role: str, environment=None, *, anywhere: bool = False) -> bool:
    return role in roles_for(user, environment, anywhere=anywhere)


def require(user, role: str, environment=None, action: str = "", *, anywhere: bool = False) -> None:
    """Raise PermissionDenied with a message a person can act on."""
    if has_role(user, role, environment, anywhere=anywhere):
        return
    if anywhere:
        where = " on some environment"
    else:
        where = f" on {environment.slug}" if environment is not None else " on every environment"
    what = f" to {action}" if action else ""
    name = getattr(user, "username", "anonymous") or "anonymous"
    raise PermissionDenied(f"{name} needs the {role} role{where}{what}.")


def _grant_cache(user) -> list[tuple[str, int | None]]:
    # Cached on the user object for the request: a page asks many times.
    if not hasattr(user, "_role_grant_cache"):
        user._role_grant_cache = list(
            RoleGrant.objects.filter(user=user).values_list("role", "environment_id")
        )
    return user._role_grant_cache


def forget_cached_roles(user) -> None:
    user.__dict__.pop("_role_grant_cache", None)
