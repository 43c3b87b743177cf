"""Writing and verifying the tamper-evident audit trail.

`record()` must be called inside the transaction of the change it records: the event
commits or rolls back with it. Writers are serialised (an advisory lock on PostgreSQL,
SQLite's single writer elsewhere) so the hash chain never forks.
"""

import contextvars
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from platform_admin.models import AuditEvent

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x61756469  # "audi": the advisory lock that serialises chain writers


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None


_NO_REQUEST = RequestContext()
_request_context: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "audit_request_context", default=_NO_REQUEST
)


def set_request_context(ctx: RequestContext) -> contextvars.Token:
    return _request_context.set(ctx)


def reset_request_context(token: contextvars.Token) -> None:
    _request_context.reset(token)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(detail: dict) -> dict:
    """Decimals, dates and the like as JSON-native values, exactly as they will be stored."""
    return json.loads(json.dumps(detail, cls=DjangoJSONEncoder))


def compute_hash(event: AuditEvent) -> str:
    payload = {
        "created_at": event.created_at.isoformat(),
        "actor": event.actor,
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "environment": event.environment,
        "detail": event.detail,
        "ip": event.ip,
    }
    body = event.prev_hash + canonical_json(payload)
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    action: str,
    *,
    actor=None,
    obj=None,
    environment: str = "",
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` is a user, None (system) or a username string."""
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return record(
                action, actor=actor, obj=obj, environment=environment, detail=detail, ip=ip
            )
    _lock_chain()
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    event = AuditEvent(
        created_at=timezone.now(),
        actor=_actor_name(actor),
        actor_id=getattr(actor, "pk", None),
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        environment=environment,
        detail=_plain(detail or {}),
        ip=ip if ip is not None else _request_context.get().ip,
        prev_hash=last or GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


def _actor_name(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


@dataclass
class ChainReport:
    count: int
    first_broken: AuditEvent | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken is None


def verify_chain(events: Iterator[AuditEvent] | None = None) -> ChainReport:
    """Walk the chain oldest first; report the first event whose link or hash is wrong."""
    if events is None:
        events = AuditEvent.objects.order_by("id").iterator(chunk_size=2000)
    expected_prev = GENESIS_HASH
    count = 0
    for event in events:
        count += 1
        if event.prev_hash != expected_prev:
            return ChainReport(count, event, "prev_hash does not match the previous event")
        if compute_hash(event) != event.hash:
            return ChainReport(count, event, "hash does not match the event's contents")
        expected_prev = event.hash
    return ChainReport(count)
