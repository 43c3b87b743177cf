"""An import whose process ends before it finishes — killed, restarted, interrupted —
imported nothing, and its history says so instead of "running" forever."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from costs import progress
from costs.importer import import_file
from costs.models import BillingImport, BillingRow, CostDaily
from costs.running import STOPPED
from platform_admin.models import AuditEvent
from tests.conftest import REPO
from tests.costs.conftest import export_row, ndjson
from tests.deployments.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = 300_000  # several seconds of importing, on any machine


def _big_export(path):
    line = ndjson([export_row("9.999999")]).rstrip(b"\n")
    with open(path, "wb") as out:
        for i in range(ROWS):
            out.write(line.replace(b"9.999999", f"{i / 1e6:.6f}".encode()) + b"\n")
    return path


def _command(*args, stderr=subprocess.DEVNULL, stdin=None, **env) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )


def _running(file_name: str) -> BillingImport:
    def found():
        return BillingImport.objects.filter(file_name=file_name, status="running").first()

    record = wait_for(found, timeout=60, what=f"{file_name} to start importing")
    time.sleep(1.0)  # well into the file
    return record


def _nothing_imported():
    assert CostDaily.objects.count() == 0
    assert BillingRow.objects.count() == 0


def test_an_import_killed_midway_shows_stopped_and_imported_nothing(
    client, carol, platform, tmp_path, write_export
):
    command = _command("import_billing", str(_big_export(tmp_path / "big.jsonl")))
    record = _running("big.jsonl")
    os.killpg(command.pid, signal.SIGKILL)
    command.wait(timeout=10)
    client.force_login(carol)

    page = client.get(f"/costs/imports/{record.pk}/").content.decode()

    record.refresh_from_db()
    assert record.status == "errored"
    assert record.message == STOPPED.format(again="Import the file again.")
    assert "stopped before it finished" in page and "Import the file again." in page
    assert AuditEvent.objects.filter(action="billing.stopped", object_id=str(record.pk)).exists()
    _nothing_imported()
    # nothing of it is left holding the next import up
    again = import_file(write_export([export_row("2.50")]))
    assert again.status == "succeeded" and again.rows_new == 1


def test_an_interrupted_import_says_so_at_once(platform, tmp_path):
    path = _big_export(tmp_path / "big.jsonl")
    command = _command("import_billing", str(path), stderr=subprocess.PIPE)
    record = _running("big.jsonl")

    os.killpg(command.pid, signal.SIGINT)  # Ctrl-C at the terminal
    _, err = command.communicate(timeout=30)

    record.refresh_from_db()
    assert command.returncode == 1
    assert err.decode().strip() == "CommandError: interrupted: nothing imported"
    assert record.status == "errored" and record.message.startswith("stopped before it finished")
    _nothing_imported()


def test_a_terminated_import_from_standard_input_says_so_and_leaves_no_spooled_copy(
    platform, tmp_path
):
    spool = tmp_path / "tmp"
    spool.mkdir()
    with open(_big_export(tmp_path / "big.jsonl"), "rb") as data:
        command = _command(
            "import_billing", "-", stdin=data, stderr=subprocess.PIPE, TMPDIR=str(spool)
        )
        record = _running("stdin")

        command.terminate()  # `kill PID`: SIGTERM to the command alone
        _, err = command.communicate(timeout=30)

    record.refresh_from_db()
    assert command.returncode == 1
    assert err.decode().strip() == "CommandError: interrupted: nothing imported"
    assert record.status == "errored" and record.message.startswith("stopped before it finished")
    assert not list(spool.iterdir())  # the copy of standard input is gone with it
    _nothing_imported()


def test_a_killed_import_of_a_pipe_leaves_no_spooled_copy_once_seen_stopped(
    client, carol, platform, tmp_path
):
    """`zcat export.gz | import_billing -`, kill -9: no exit code runs; the copy of the
    pipe goes when the import is found stopped."""
    import threading

    spool = tmp_path / "tmp"
    spool.mkdir()
    command = _command(
        "import_billing", "-", stdin=subprocess.PIPE, TMPDIR=str(spool), stderr=subprocess.PIPE
    )
    data = _big_export(tmp_path / "big.jsonl").read_bytes()

    def feed():
        try:
            command.stdin.write(data)
            command.stdin.close()
        except OSError:  # the command was killed
            pass

    threading.Thread(target=feed, daemon=True).start()
    record = _running("stdin")
    assert list(spool.iterdir())  # the pipe's copy, while it imports

    os.killpg(command.pid, signal.SIGKILL)
    command.wait(timeout=10)
    client.force_login(carol)
    client.get("/costs/")

    record.refresh_from_db()
    assert record.status == "errored" and record.message.startswith("stopped before it finished")
    assert not list(spool.iterdir())
    _nothing_imported()


def test_an_import_that_is_running_is_not_taken_for_stopped(client, carol, platform, tmp_path):
    command = _command("import_billing", str(_big_export(tmp_path / "big.jsonl")))
    record = _running("big.jsonl")
    client.force_login(carol)

    client.get("/costs/")
    client.get(f"/costs/imports/{record.pk}/")

    record.refresh_from_db()
    assert record.status == "running"
    assert command.wait(timeout=300) == 0
    record.refresh_from_db()
    assert record.status == "succeeded" and record.rows_new == ROWS


def test_a_queued_upload_whose_worker_is_killed_shows_stopped_and_its_file_goes(
    client, carol, platform, billing_worker, upload_dir, settings, tmp_path
):
    settings.BILLING_INLINE_IMPORT_BYTES = 1000
    client.force_login(carol)
    path = _big_export(tmp_path / "upload.jsonl")
    with open(path, "rb") as fh:
        location = client.post(
            "/costs/import/", {"file": fh, "format": "auto"}, REMOTE_ADDR="203.0.113.9"
        )["Location"]
    record = BillingImport.objects.get(file_name="upload.jsonl")
    wait_for(lambda: progress.read(record.pk).get("rows"), timeout=60, what="rows to be read")

    billing_worker.kill()  # the worker and its work horse, as a restart would

    part = client.get(location + "part/", REMOTE_ADDR="198.51.100.7").content.decode()
    stopped = AuditEvent.objects.get(action="billing.stopped")
    assert stopped.ip == "203.0.113.9"  # where it was started, not who noticed
    record.refresh_from_db()
    assert record.status == "errored" and "stopped before it finished" in part
    assert 'data-active="false"' in part  # the page stops polling
    assert not any(upload_dir.iterdir())  # the uploaded file does not linger
    _nothing_imported()
