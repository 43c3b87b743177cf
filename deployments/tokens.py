"""API tokens for CI: named, expiring, scoped to actions and environments; random, shown
once, stored as SHA-256 (they carry 256 bits of entropy, so a fast hash is enough and
lookups stay an index hit).

A token may do what its user's roles allow *and* its scopes and environments allow: a CI
token with `releases` and `deploy` on staging registers releases and starts staging
rollouts, and can never approve, whatever its user may do in the browser.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from deployments.errors import DeploymentError
from deployments.models import ApiToken, TokenScope
from platform_admin import audit
from platform_admin.models import Environment

PREFIX = "pa_"
DEFAULT_DAYS = 90
MAX_DAYS = 366
LAST_USED_EVERY = timedelta(seconds=60)  # how stale last_used_at may get (one write a minute)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRequest:
    """What a new token is for; `validate()` refuses a wrong one with a sentence."""

    name: str
    days: int = DEFAULT_DAYS
    scopes: tuple[str, ...] = tuple(TokenScope.values)
    environments: tuple[str, ...] = ()

    def validate(self) -> None:
        name = (self.name or "").strip()
        if not name or len(name) > 80 or any(ord(c) < 32 for c in name):
            raise DeploymentError(
                "Name the token (up to 80 characters), e.g. 'github-actions staging'."
            )
        if not 1 <= self.days <= MAX_DAYS:
            raise DeploymentError(f"A token lives 1 to {MAX_DAYS} days (asked: {self.days}).")
        unknown = sorted(set(self.scopes) - set(TokenScope.values))
        if unknown:  # none: a token that only reads
            choices = ", ".join(TokenScope.values)
            raise DeploymentError(f"Scopes must be some of {choices} (got: {', '.join(unknown)}).")
        known = set(Environment.objects.values_list("slug", flat=True))
        missing = sorted(set(self.environments) - known)
        if missing:
            raise DeploymentError(f"No environment {', '.join(missing)}.")


@transaction.atomic
def create_token(user, request: TokenRequest | str = "", actor=None) -> str:
    """Create a token for `user`; returns the plain token (the only time it exists).
    `actor` is who asked (the owner on the tokens page, an admin, or `manage.py`)."""
    if isinstance(request, str):
        request = TokenRequest(name=request or "unnamed")
    request.validate()
    for_someone_else = actor is not None and not isinstance(actor, str) and actor != user
    if for_someone_else and not actor.is_superuser:
        raise PermissionDenied(f"{actor.username} may only create tokens for themselves.")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user,
        name=request.name.strip(),
        prefix=token[:10],
        key_hash=_hash(token),
        expires_at=timezone.now() + timedelta(days=request.days),
        scopes=sorted(set(request.scopes)),
        environments=sorted(set(request.environments)),
    )
    audit.record(
        "api_token.created",
        actor=actor or "system",
        obj=row,
        detail={
            "user": user.username,
            "name": row.name,
            "prefix": row.prefix,
            "expires_at": row.expires_at,
            "scopes": row.scopes,
            "environments": row.environments,
        },
    )
    return token


@transaction.atomic
def revoke_token(token_row: ApiToken, actor) -> bool:
    """Stop a token working from now on; audited. False if it was already revoked.
    Its owner or an admin may revoke it."""
    if not (actor == token_row.user or getattr(actor, "is_superuser", False)):
        raise PermissionDenied(f"{actor.username} may not revoke another user's token.")
    updated = ApiToken.objects.filter(pk=token_row.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        audit.record(
            "api_token.revoked",
            actor=actor,
            obj=token_row,
            detail={
                "user": token_row.user.username,
                "name": token_row.name,
                "prefix": token_row.prefix,
            },
        )
    return bool(updated)


class TokenRefused(Exception):
    """A bearer token that does not let its request in (401), with the reason."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def token_for(token: str) -> ApiToken:
    """The valid token row (with its user) for a bearer token; TokenRefused with the
    reason otherwise: unknown, revoked, expired or its user deactivated."""
    if not token or not token.startswith(PREFIX) or len(token) > 100:
        raise TokenRefused("Send a valid API token: Authorization: Bearer <token>.")
    row = ApiToken.objects.select_related("user").filter(key_hash=_hash(token)).first()
    if row is None:
        raise TokenRefused("This API token is not known; create one on the API tokens page.")
    now = timezone.now()
    if row.revoked_at:
        raise TokenRefused(f"API token {row.name or row.prefix} was revoked; create a new one.")
    if row.expires_at and row.expires_at <= now:
        when = row.expires_at.strftime("%Y-%m-%d")
        name = row.name or row.prefix
        raise TokenRefused(f"API token {name} expired on {when}; create a new one.")
    if not row.user.is_active:
        raise TokenRefused(f"The user of API token {row.name or row.prefix} is deactivated.")
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def require_scope(row: ApiToken | None, scope: str, environment: Environment | None = None):
    """Refuse (403, with a sentence) what the request's token was not given. A request
    without a token (the browser) is left to the user's roles alone."""
    if row is None:
        return
    if scope not in row.scopes:
        raise PermissionDenied(
            f"API token {row.name} may not {TokenScope(scope).label.lower()}: "
            f"its scopes are {', '.join(row.scopes) or 'none'}."
        )
    if environment is not None and not row.allows_environment(environment.slug):
        raise PermissionDenied(
            f"API token {row.name} is limited to {', '.join(row.environments)}; "
            f"it may not act on {environment.slug}."
        )
