"""The audit trail is append-only in the database and tamper-evident by its hash chain.

Runs on PostgreSQL and on SQLite (`make test` runs this file a second time on SQLite, the
`make run` default). What only PostgreSQL does is in test_audit_chain_postgres.py.
"""

import importlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from platform_admin import audit
from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db


def verify() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
        return 0, out.getvalue()
    except SystemExit as exc:
        return exc.code, err.getvalue()


def make_events(n=3):
    return [
        audit.record(
            "test.action", actor="alice", environment="staging", detail={"n": i, "amount": "1.50"}
        )
        for i in range(n)
    ]


def test_events_link_to_their_predecessor():
    first, second, third = make_events()
    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash


def test_verify_audit_reports_an_intact_chain():
    make_events(5)
    code, output = verify()
    assert code == 0
    assert output.strip() == "5 events, chain intact"


def test_update_is_refused_by_the_database():
    event = make_events(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor="mallory")
    assert AuditEvent.objects.get(pk=event.pk).actor == "alice"


def test_delete_is_refused_by_the_database():
    event = make_events(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


APPEND_ONLY = importlib.import_module("platform_admin.migrations.0002_audit_append_only")


def _tamper(sql, params):
    """Edit a row behind the app's back, as a database owner could: with the append-only
    trigger off (PostgreSQL) or dropped and put back (SQLite cannot disable a trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE platform_admin_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE platform_admin_auditevent ENABLE TRIGGER USER")
            return
        for statement in APPEND_ONLY.SQLITE_DOWN:
            cursor.execute(statement)
        cursor.execute(sql, params)
        for statement in APPEND_ONLY.SQLITE_UP:
            cursor.execute(statement)


def test_verify_audit_names_the_first_edited_event():
    events = make_events(4)
    _tamper(
        "UPDATE platform_admin_auditevent SET actor = %s WHERE id = %s", ["mallory", events[1].pk]
    )

    code, output = verify()

    assert code == 1
    assert f"chain broken at event #{events[1].pk}" in output
    assert "hash does not match" in output


def test_verify_audit_detects_a_deleted_event():
    events = make_events(4)
    _tamper("DELETE FROM platform_admin_auditevent WHERE id = %s", [events[1].pk])

    code, output = verify()

    assert code == 1
    assert f"chain broken at event #{events[2].pk}" in output
    assert "prev_hash" in output


def test_event_rolls_back_with_the_change_it_records():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.action", actor="alice")
        raise RuntimeError("the change failed")
    assert not AuditEvent.objects.exists()


def test_a_recorded_event_is_read_back_exactly():
    event = audit.record(
        "test.roundtrip", actor="alice", environment="staging", detail={"amount": "1.50", "é": 1}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.prev_hash, stored.hash) == (event.prev_hash, event.hash)
    # PostgreSQL hashed on the server, SQLite in Python: either way Python's check agrees.
    assert audit.compute_hash(stored) == stored.hash
    assert stored.detail == {"amount": "1.50", "é": 1}
