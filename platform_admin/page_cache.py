"""Rendered page parts reused while the data they show is unchanged.

A part is keyed by what its data depends on: the caller's own version numbers (e.g. the
health collector's generation, the minute for "N minutes ago") and the newest audit
event id, since every change a person or a job makes to what pages show (a rollout, a
release, an alert, the platform file, an admin edit) is audited. So a part is rebuilt
at the first request after a change and served as it is until the next; nothing has to
be told to invalidate it. The cache is Django's default (per process unless CACHES says
otherwise); a part lives at most PAGE_CACHE_SECONDS.
"""

import hashlib
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.db.models import Subquery
from django.db.models.functions import Coalesce

from platform_admin.models import AuditEvent

PAGE_CACHE_SECONDS = 600


def audit_version():
    """The newest audit event's id as an expression (an index lookup), to annotate onto
    the query a page makes anyway: `.annotate(audit_version=audit_version())`."""
    return Coalesce(Subquery(AuditEvent.objects.order_by("-id").values("id")[:1]), 0)


def audit_version_sql() -> str:
    """The same as an SQL expression, for a page whose one query is written by hand."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    return f"COALESCE((SELECT MAX(id) FROM {table}), 0)"  # noqa: S608 - our own table


def current_audit_version() -> int:
    """The newest audit event's id, for a page with no query to annotate it onto."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def part(name: str, versions: tuple, build: Callable[[], str]) -> str:
    """The HTML `build()` returns for `name` at these versions (the audit version among
    them), built once per change."""
    # Hashed: a part's name and versions may hold spaces or run long (a service and SKU
    # drill-down), which memcached refuses as a key.
    spelled = "\x1f".join([name, *map(str, versions)])
    key = "page:" + hashlib.sha256(spelled.encode()).hexdigest()
    html = cache.get(key)
    if html is None:
        html = build()
        cache.set(key, html, PAGE_CACHE_SECONDS)
    return html
