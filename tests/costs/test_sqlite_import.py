"""The demo's SQLite database (`make run`): one writer at a time. An import reads and
stages its file holding no lock, so sign-ins, the deploy worker and the cron jobs write
meanwhile; only counting the staged rows, the short part, holds the write lock."""

import os
import subprocess
import sys
from pathlib import Path

from tests.costs.conftest import export_row, ndjson

REPO = Path(__file__).resolve().parents[2]
STAGING = {"env": "staging"}

# Runs in a process of its own on a SQLite file: while the importer stages the file's
# first lines, another connection signs in (writes a session) with a short timeout.
SCRIPT = """
import sqlite3, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from costs import importer
from costs.staged_rows import stage_lines
signed_in = []
def staging_lines(*args, **kwargs):
    if not signed_in:
        other = sqlite3.connect(sys.argv[1], timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute(
                "INSERT INTO django_session VALUES ('s1', 'data', '2099-01-01 00:00:00')"
            )
            other.execute("COMMIT")
            signed_in.append("signed in")
        except sqlite3.OperationalError as exc:
            signed_in.append(str(exc))
        other.close()
    return stage_lines(*args, **kwargs)
importer.stage_lines = staging_lines
record = importer.import_file(sys.argv[2])
print(record.status, record.rows_new, signed_in[0], sep="|")
more = importer.import_file(sys.argv[3])  # new rows into the buckets the first made
from costs.models import CostDaily
from costs.report import month_report
report = month_report("2026-10")
credits = [b.credits_by_type for b in CostDaily.objects.order_by("id")]
print(more.rows_new, CostDaily.objects.count(), report["total"]["net"], credits, sep="|")
"""


def test_a_sign_in_while_an_import_reads_its_file_does_not_wait_for_it(tmp_path):
    export = tmp_path / "oct.jsonl"
    export.write_bytes(ndjson([export_row("1.25", labels=STAGING)] * 3))
    more = tmp_path / "more.jsonl"
    credited = export_row("1.00", labels=STAGING, credits=[("PROMOTION", "-0.25")])
    more.write_bytes(
        ndjson([export_row("1.25", labels=STAGING)] * 5 + [credited, export_row("0.10")])
    )
    database = tmp_path / "demo.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(database), str(export), str(more)],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-2:] == [
        "succeeded|3|signed in",
        # Into the first file's bucket: two more of its row and one with a credit (3.75 +
        # 2.50 + 0.75); and a bucket of its own (0.10).
        "4|2|7.10|[{'PROMOTION': '-0.250000000'}, {}]",
    ]
