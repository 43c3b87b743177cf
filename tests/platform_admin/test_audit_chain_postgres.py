"""The audit chain where only PostgreSQL can show it: writers in parallel threads, and the
lock, read, hash and insert of an event in one round trip to the server.

Not collected on SQLite (tests/platform_admin/conftest.py): SQLite has one writer at a
time and the test database is in memory with table locks, so parallel writers are not a
case there, and the server-side hashing is PostgreSQL's code path only.
"""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from platform_admin import audit
from platform_admin.models import AuditEvent
from tests.platform_admin.test_audit_chain import verify


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain():
    """Eight threads recording at once: every event links to the one before, none forks."""

    def write(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    audit.record("test.concurrent", actor=f"writer-{n}", detail={"i": i})
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == 80
    assert len({e.prev_hash for e in events}) == 80  # no two events claim one predecessor
    assert audit.verify_chain().intact
    code, _ = verify()
    assert code == 0


@pytest.mark.django_db
def test_an_event_is_chained_and_hashed_on_the_server_in_one_round_trip():
    previous = audit.record("test.first", actor="alice")
    with CaptureQueriesContext(connection) as queries:  # in the test's transaction
        event = audit.record("test.second", actor="alice", detail={"amount": "1.50"})
    assert len(queries) == 1
    assert "pg_advisory_xact_lock" in queries[0]["sql"] and "sha256" in queries[0]["sql"]
    assert event.prev_hash == previous.hash
    assert audit.compute_hash(AuditEvent.objects.get(pk=event.pk)) == event.hash
