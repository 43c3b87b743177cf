"""API tokens for CI: random, shown once, stored as SHA-256 (they carry 256 bits of
entropy, so a fast hash is enough and lookups stay an index hit)."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from deployments.models import ApiToken
from platform_admin import audit

PREFIX = "pa_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_token(user, name: str = "", actor=None) -> str:
    """Create a token for `user`; returns the plain token (the only time it exists)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(user=user, name=name, prefix=token[:10], key_hash=_hash(token))
    audit.record(
        "api_token.created",
        actor=actor or "system",
        obj=row,
        detail={"user": user.username, "name": name, "prefix": row.prefix},
    )
    return token


@transaction.atomic
def revoke_token(token_row: ApiToken, actor) -> bool:
    """Stop a token working from now on; audited. False if it was already revoked."""
    updated = ApiToken.objects.filter(pk=token_row.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        audit.record(
            "api_token.revoked",
            actor=actor,
            obj=token_row,
            detail={"user": token_row.user.username, "prefix": token_row.prefix},
        )
    return bool(updated)


def user_for_token(token: str):
    """The active user a bearer token belongs to, or None."""
    if not token or not token.startswith(PREFIX):
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(token), revoked_at__isnull=True)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
