"""A CSV export never hands a spreadsheet a formula: text that would be one is quoted."""

import csv
import io
from decimal import Decimal

import pytest

from platform_admin import audit
from platform_admin.csv_safe import safe_row
from platform_admin.models import AuditEvent

pytestmark = pytest.mark.django_db

FORMULAS = ['=HYPERLINK("http://127.0.0.1/x","y")', "+1", "-1", "@SUM(1)"]


def export(client, query=""):
    response = client.get("/audit.csv" + query)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_failed_logins_typed_as_formulas_are_exported_as_text(client, alice):
    for username in FORMULAS:
        client.post("/login/", {"username": username, "password": "x"})
    client.force_login(alice)

    rows = export(client, "?action=auth.login_failed")

    assert [r["actor"] for r in rows] == ["'" + f for f in FORMULAS]
    # The detail is a JSON object: it starts with "{" and is left as it was stored.
    assert [r["detail"] for r in rows] == [f'{{"username":{_json(f)}}}' for f in FORMULAS]


def _json(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def test_a_tab_or_carriage_return_before_a_formula_is_neutralised_too(client, alice):
    audit.record("note.added", actor="\t=1+2", obj=None, detail={})
    audit.record("note.added", actor="\r=1+2", obj=None, detail={})
    client.force_login(alice)

    rows = export(client, "?action=note.added")

    assert [r["actor"] for r in rows] == ["'\t=1+2", "'\r=1+2"]


def test_ordinary_cells_and_the_hash_chain_columns_are_unchanged(client, alice):
    audit.record(
        "rollout.started", actor="alice", environment="staging", detail={"release": "1.0.0"}
    )
    client.force_login(alice)

    (row,) = export(client, "?action=rollout.started")
    event = AuditEvent.objects.get(action="rollout.started")
    assert row["actor"] == "alice" and row["environment"] == "staging"
    assert row["created_at"] == event.created_at.isoformat()
    assert (row["prev_hash"], row["hash"]) == (event.prev_hash, event.hash)
    assert audit.verify_chain().intact


def test_numbers_stay_numbers_so_a_negative_amount_is_not_quoted():
    cells = [Decimal("-12.50"), -3, 4.5, "-3", "net cost", "", None]

    assert safe_row(cells) == [Decimal("-12.50"), -3, 4.5, "'-3", "net cost", "", None]
