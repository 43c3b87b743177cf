"""A big export is parsed by worker processes: the same figures, identities and
refusals as the importer's own loop gives, and no worker outlives its import."""

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from costs.importer import import_file
from costs.models import BillingImport, BillingRow, CostDaily, InvoiceMonth
from costs.report import month_report
from tests.conftest import REPO
from tests.costs.conftest import export_row, ndjson
from tests.deployments.conftest import wait_for

ODD_CREDIT = 'tab\there, back\\slash, new\nline, "quoted", ünï'


def _rows(n: int) -> list[dict]:
    """`n` export rows over several MiB: labels, credits (one of a type COPY must
    escape), usage without an amount, rows identical to an earlier one."""
    rows = []
    for i in range(n):
        credits = [("FREE_TIER", f"-0.{i % 7:02d}")] if i % 3 == 0 else []
        if i % 11 == 0:
            credits.append((ODD_CREDIT, "-0.000001"))
        row = export_row(
            f"{i % 97}.{i:06d}",
            project=("acme-staging", "acme-prod", "")[i % 3],
            labels={"app": ("api-server", "realtime", "agent")[i % 3]} if i % 4 else {},
            sku=f"SKU {i % 13}",
            start=f"2026-10-{1 + i % 28:02d} {i % 24:02d}:00:00 UTC",
            credits=credits,
        )
        if i % 17 == 0:
            row["usage"] = {"unit": "seconds"}
        rows.append(row)
    for i in range(0, n, 50):
        rows[i] = rows[0]  # identical rows, across every block: each one counts
    return rows


def _export(rows: list[dict]) -> bytes:
    text = ndjson(rows)
    lines = text.split(b"\n")
    for at in (1000, 3000):
        lines.insert(at, b"   ")  # blank lines are no rows
    return b"\xef\xbb\xbf" + b"\n".join(lines)


def _figures() -> tuple[list, set]:
    daily = list(
        CostDaily.objects.order_by("key_hash").values_list(
            "key_hash",
            "row_count",
            "cost_nanos",
            "credits_nanos",
            "usage_amount",
            "credits_by_type",
            "environment_id",
            "component",
            "usage_day",
        )
    )
    identities = BillingRow.objects.values_list("row_hash", "occurrence")
    return daily, {(bytes(row_hash), n) for row_hash, n in identities}


def _forget_imports() -> None:
    for model in (CostDaily, BillingRow, InvoiceMonth, BillingImport):
        model.objects.all().delete()


@pytest.mark.django_db
@pytest.mark.parametrize("gz", [False, True])
def test_a_big_export_parsed_by_workers_gives_what_one_process_gives(
    platform, write_export, settings, gz
):
    rows = _rows(6000)  # ~4 MiB of lines: blocks for both workers
    path = write_export(_export(rows), name="big.jsonl", gz=gz)
    settings.BILLING_PARALLEL_IMPORT_BYTES = 1
    settings.BILLING_IMPORT_WORKERS = 2

    by_workers = import_file(path)
    figures = _figures()
    report = month_report("2026-10")
    settings.BILLING_IMPORT_WORKERS = 0
    again = import_file(path)
    _forget_imports()
    here = import_file(path)

    assert (by_workers.status, by_workers.rows_read, by_workers.rows_new) == (
        "succeeded",
        6000,
        6000,
    )
    assert (again.rows_new, again.rows_known) == (0, 6000)  # the same identities
    assert (here.status, here.rows_new) == ("succeeded", 6000)
    assert _figures() == figures
    assert month_report("2026-10") == report
    assert max(occurrence for _, occurrence in figures[1]) == 120  # rows[0], 120 times
    odd = sum(Decimal(c["amount"]) for r in rows for c in r["credits"] if c["type"] == ODD_CREDIT)
    stored = [by_type.get(ODD_CREDIT) for *_, by_type, _, _, _ in figures[0]]
    assert odd == sum(Decimal(v) for v in stored if v) < 0


@pytest.mark.django_db
@pytest.mark.parametrize("first_bad", [2500, 4200])
def test_the_first_bad_line_of_the_file_is_named_whichever_worker_read_it(
    platform, write_export, settings, first_bad
):
    """Lines 2500 and 4200 lie in blocks the two workers read; both are bad in one
    file, or only the later one: the first one of the file is named."""
    settings.BILLING_PARALLEL_IMPORT_BYTES = 1
    rows = _rows(6000)
    for line in {first_bad, 4200}:
        rows[line - 1] = {**rows[line - 1], "cost": "twelve dollars"}
    text = ndjson(rows)

    record = import_file(write_export(text, name="bad.jsonl"))

    assert record.status == "refused"
    assert record.message == (
        f'bad.jsonl:{first_bad}: cost: "twelve dollars" is not a number — refused, nothing imported'
    )
    assert (CostDaily.objects.count(), BillingRow.objects.count()) == (0, 0)
    assert len(record.sha256) == 64


# --- the workers' processes ---------------------------------------------------------


def _command(path: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_billing", str(path)],
        cwd=REPO,
        env={**_parallel_env(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _parallel_env() -> dict:
    """The environment of a command on the test database, parsing with two workers."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "BILLING_PARALLEL_IMPORT_BYTES": "1",
        "BILLING_IMPORT_WORKERS": "2",
    }


def _import_standard_input(argument: str, **given) -> subprocess.CompletedProcess:
    """`import_billing ARGUMENT` with standard input as `given` (stdin= or input=)."""
    return subprocess.run(
        [sys.executable, "manage.py", "import_billing", argument],
        cwd=REPO,
        env=_parallel_env(),
        capture_output=True,
        timeout=120,
        **given,
    )


def _workers(pid: int) -> list[int]:
    """The parse workers the process `pid` started."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"costs.parse_worker" in _read(Path(f"/proc/{child}/cmdline"))
    ]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process has gone
        return b""


def _gone(pid: int) -> bool:
    stat = _read(Path(f"/proc/{pid}/stat"))
    return not stat or stat.rsplit(b")", 1)[1].split()[0] == b"Z"  # a zombie has exited


def _big_file(tmp_path: Path) -> Path:
    line = ndjson([export_row("9.999999")]).rstrip(b"\n")
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as out:
        for i in range(300_000):
            out.write(line.replace(b"9.999999", f"{i / 1e6:.6f}".encode()) + b"\n")
    return path


def _importing(command: subprocess.Popen) -> list[int]:
    workers = wait_for(lambda: len(_workers(command.pid)) == 2 and _workers(command.pid), 60)
    wait_for(lambda: BillingImport.objects.filter(status="running").exists(), 60)
    time.sleep(0.5)  # well into the file
    return workers


@pytest.mark.django_db(transaction=True)
def test_parse_workers_do_not_outlive_a_killed_import(platform, tmp_path):
    command = _command(_big_file(tmp_path))
    workers = _importing(command)

    os.kill(command.pid, signal.SIGKILL)  # the importer only, as the OOM killer would
    command.wait(timeout=10)

    wait_for(lambda: all(_gone(pid) for pid in workers), 10, what="the workers to exit")
    assert (CostDaily.objects.count(), BillingRow.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_parse_worker_that_dies_errors_the_import_and_imports_nothing(platform, tmp_path):
    command = _command(_big_file(tmp_path))
    workers = _importing(command)

    os.kill(workers[1], signal.SIGKILL)
    _, err = command.communicate(timeout=60)

    record = BillingImport.objects.get(file_name="big.jsonl")
    assert command.returncode == 1
    assert record.status == "errored"
    assert record.message == (
        "failed on an unexpected error (RuntimeError: parse worker 1 was killed by signal 9) "
        "— nothing imported; the server log has the details"
    )
    assert (
        err.decode()
        .strip()
        .endswith(
            "CommandError: failed on an unexpected error (RuntimeError: parse worker 1 was killed "
            "by signal 9) — nothing imported"
        )
    )
    assert all(_gone(pid) for pid in workers)
    assert (CostDaily.objects.count(), BillingRow.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("deleted", [False, True])
def test_a_big_export_given_as_standard_input_is_imported_even_once_deleted(
    platform, tmp_path, deleted
):
    """`import_billing /dev/stdin < export.jsonl`: the workers open the file by its own
    path; a file deleted since (nothing else can open it) is parsed by the importer."""
    path = tmp_path / "export.jsonl"
    path.write_bytes(ndjson(_rows(6000)))
    with open(path, "rb") as stdin:
        if deleted:
            path.unlink()
        done = _import_standard_input("/dev/stdin", stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().startswith("stdin: 6000 rows read, 6000 new, 0 already known")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("argument", "gz"), [("-", False), ("/dev/stdin", True)])
def test_an_export_piped_in_is_imported(platform, argument, gz):
    """`zcat export.jsonl.gz | import_billing -`: a pipe has no size and is read once
    (it is saved first); it was refused as "the file is empty"."""
    data = ndjson(_rows(6000))
    piped = gzip.compress(data) if gz else data
    done = _import_standard_input(argument, input=piped)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().startswith("stdin: 6000 rows read, 6000 new, 0 already known")
    record = BillingImport.objects.get()
    assert record.size_bytes == len(piped)
    assert record.sha256 == hashlib.sha256(piped).hexdigest()
