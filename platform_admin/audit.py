"""Writing and verifying the tamper-evident audit trail.

`record()` must be called inside the transaction of the change it records: the event
commits or rolls back with it. Writers are serialised (an advisory lock on PostgreSQL,
SQLite's single writer elsewhere) so the hash chain never forks.

On PostgreSQL the lock, the read of the last hash, the hashing and the insert go to the
server in one round trip, and the lock is held from there until the commit. Every writer
waits for that lock, so its hold time bounds how many audited changes commit per second:
taken in four round trips, each one waiting for the writer thread to get the GIL back,
it was the queue that 50 rollouts started at once stood in.
"""

import contextlib
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


def current_ip() -> str | None:
    """The address of the request being served (None outside one)."""
    return _request_context.get().ip


@contextlib.contextmanager
def acting_from(ip: str | None):
    """Events recorded inside are from `ip` (a job run for a request made earlier)."""
    token = _request_context.set(RequestContext(ip=ip))
    try:
        yield
    finally:
        _request_context.reset(token)


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
    body = event.prev_hash + _hashed_fields(event)
    return hashlib.sha256(body.encode()).hexdigest()


def _hashed_fields(event: AuditEvent) -> str:
    """The canonical JSON of what an event's hash covers, besides the previous hash."""
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
    return canonical_json(payload)


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
    )
    if _one_round_trip():
        _insert_chained_on_server(event)
    else:
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last or GENESIS_HASH
        event.hash = compute_hash(event)
        event.save(force_insert=True)
    return event


def _one_round_trip() -> bool:
    # Two statements in one execute() need Django's default client-side parameter binding.
    return connection.vendor == "postgresql" and not connection.settings_dict.get(
        "OPTIONS", {}
    ).get("server_side_binding")


_CHAINED_FIELDS = [
    f for f in AuditEvent._meta.concrete_fields if f.name not in ("id", "prev_hash", "hash")
]


def _insert_chained_on_server(event: AuditEvent) -> None:
    """Lock, read the last hash, hash and insert: one round trip. The INSERT is a statement
    of its own, so its snapshot is taken once the lock is held and sees the previous
    writer's row; the server computes the same SHA-256 as `compute_hash`."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _CHAINED_FIELDS)
    placeholders = ", ".join(["%s"] * len(_CHAINED_FIELDS))
    # Only the model's own table and column names and a constant are formatted in.
    sql = (
        f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK_KEY}); "  # noqa: S608
        f"WITH last AS (SELECT coalesce("
        f"(SELECT hash FROM {table} ORDER BY id DESC LIMIT 1), %s) AS hash) "
        f"INSERT INTO {table} ({columns}, prev_hash, hash) VALUES ({placeholders}, "
        "(SELECT hash FROM last), "
        "encode(sha256(convert_to((SELECT hash FROM last) || %s, 'UTF8')), 'hex')) "
        "RETURNING id, prev_hash, hash"
    )
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _CHAINED_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, [GENESIS_HASH, *values, _hashed_fields(event)])
        cursor.nextset()  # past the lock's empty result
        event.pk, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


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
