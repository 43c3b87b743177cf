"""Importing a BigQuery billing export file: atomic, idempotent, exact.

The file is streamed line by line (memory flat in its size) into temporary staging
tables, private to the connection, outside any transaction: parsing, the long part, holds
no lock (SQLite's demo database has one writer at a time). Then one transaction, under the
import lock, does the rest: the database picks the rows not counted before (identity =
canonical content hash + occurrence within the file, see `BillingRow`), their sums go
into the daily rollups, and the import and its audit event are recorded. A bad line
refuses the whole file, naming the line and the field; nothing changes.
"""

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from django.db import Error, connection, transaction
from django.utils import timezone

from costs import cost_table, fanout, progress, rollup, running, services, staging
from costs.attribution import Attributor
from costs.bq_rows import RowKey
from costs.export_file import CHUNK, HashingReader, RefusedFile, blocks, refused, sniff
from costs.models import (
    BillingImport,
    BillingRow,
    CostDaily,
    ImportSource,
    ImportStatus,
    InvoiceMonth,
)
from costs.money import cents
from costs.month import open_months
from costs.month import today as pacific_today
from costs.staged_rows import Staged, stage_lines
from platform_admin import audit
from platform_admin.models import PlatformSettings

log = logging.getLogger(__name__)
FORMATS = ("auto", "bq-json", "cost-table-csv")
_IMPORT_LOCK_KEY = 0x62696C6C  # "bill": one import at a time writes identities and rollups


def import_file(
    path,
    *,
    actor=None,
    file_name: str = "",
    fmt: str = "auto",
    replace_months: bool = False,
    record: BillingImport | None = None,
    report_progress: bool = False,
    spooled: bool = False,
) -> BillingImport:
    """Import an export file. Returns its BillingImport: succeeded, or refused with the
    sentence in `message`. A crash is recorded as errored and re-raised.

    Rows falling in an invoice month whose figures come from the BigQuery pull refuse
    the file, unless `replace_months`: then those months' pulled figures are replaced by
    the files' (audited). `record`: a queued upload's history row, to run it; `spooled`:
    the file is a copy the import owns (removed if its process dies, see `running`);
    `report_progress`: rows and bytes read so far go to `costs.progress` as it streams."""
    path = Path(path)
    with open(path, "rb") as raw:  # first: a file that cannot be opened records nothing
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            return _spooled(raw, file_name or path.name, fmt, actor, replace_months, record)
        fields = {
            "source": ImportSource.FILE,
            "file_name": file_name or path.name,
            "size_bytes": os.fstat(raw.fileno()).st_size,
            "format": fmt,
            "created_by": actor if getattr(actor, "pk", None) else None,
            "actor": audit._actor_name(actor),
            "status": ImportStatus.QUEUED,  # running once its process holds it
            "replace_months": replace_months,
            "client_ip": audit.current_ip(),
            "upload_path": str(path) if spooled else "",
        }
        if record is None:
            record = BillingImport.objects.create(**fields)
        with running.holding(record), audit.acting_from(record.client_ip):
            BillingImport.objects.filter(pk=record.pk).update(status=ImportStatus.RUNNING)
            record.status = ImportStatus.RUNNING
            _run(path, raw, record, actor, report_progress)
    if record.status == ImportStatus.SUCCEEDED:
        try:
            services.check_after_import(record.months)
        except BaseException as exc:  # interrupted after the commit: the import is complete
            exc.billing_import = record
            raise
    return record


def _spooled(raw, name: str, fmt: str, actor, replace_months: bool, record) -> BillingImport:
    """A pipe (`import_billing /dev/stdin`, `<(zcat ...)`) is read once, and the importer
    reads a file more than once: saved to a temporary file first."""
    with tempfile.NamedTemporaryFile(prefix="billing-import-", suffix=".spool") as spool:
        shutil.copyfileobj(raw, spool, CHUNK)
        spool.flush()
        return import_file(
            spool.name,
            actor=actor,
            file_name=name,
            fmt=fmt,
            replace_months=replace_months,
            record=record,
            spooled=record is None,  # an upload's record names its own copy
        )


def _run(path: Path, raw, record: BillingImport, actor, report_progress: bool) -> None:
    reader = HashingReader(raw)
    try:
        try:
            staged = _read(path, record, reader, report_progress)
            with transaction.atomic():
                _count(record, staged, actor, report_progress)
        finally:
            with contextlib.suppress(Error):  # gone with the connection, if that broke
                staging.drop()
    except RefusedFile as exc:
        _drain(reader, record)
        finish(record, ImportStatus.REFUSED, str(exc))
        audit.record("billing.refused", actor=actor, obj=record, detail=_detail(record))
    except Exception as exc:
        failed(record, exc, actor)
        raise
    except BaseException as exc:  # interrupted (Ctrl-C, SystemExit): the process is ending
        try:
            running.stopped(record)
        except Exception:  # the connection went with the interrupt: settle() will see
            log.warning("billing import %s: could not record it stopped", record.pk)
        exc.billing_import = record  # which import it interrupted (it may have committed)
        raise


def failed(record: BillingImport, exc: Exception, actor) -> None:
    """Record an import (or pull) that crashed: errored, with a sentence anyone may read;
    the traceback goes to the log, not to the page."""
    log.error("billing import %s failed", record.pk, exc_info=exc)
    first_line = next(iter(str(exc).strip().splitlines()), "")[:300]
    what = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    finish(
        record,
        ImportStatus.ERRORED,
        f"failed on an unexpected error ({what}) — nothing imported; the server log has the "
        "details",
    )
    kind = "billing.pull_errored" if record.source == ImportSource.PULL else "billing.errored"
    audit.record(kind, actor=actor, obj=record, detail=_detail(record))


def _read(
    path: Path, record: BillingImport, reader: HashingReader, report_progress: bool
) -> Staged:
    """The file's rows, checked and staged (nothing outside the staging tables changes);
    a bad line raises RefusedFile."""
    if not record.size_bytes:
        raise refused(record.file_name, "the file is empty")
    start = sniff(path, record.file_name)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in start:
        raise refused(
            record.file_name,
            'UTF-16 or UTF-32 text (as Windows saves "Unicode"); exports are UTF-8: save '
            "it as UTF-8",
        )
    record.format = _format(record.format, record.file_name, start)
    staging.create()
    progress_id = record.pk if report_progress else None
    staged = _stage(path, record.file_name, reader, progress_id, record.format, record.size_bytes)
    if not staged.rows_read:
        raise refused(record.file_name, "the file holds no export rows")
    _check_keys(staged, record.file_name)
    record.sha256 = reader.sha256.hexdigest()
    record.rows_read = staged.rows_read
    return staged


def _count(record: BillingImport, staged: Staged, actor, report_progress: bool) -> None:
    """Count the staged rows not counted before, in the transaction it runs in."""
    lock(record.pk if report_progress else None, staged.rows_read, record.size_bytes)
    record.rows_new = staging.select_new()
    months = sorted({key.invoice_month for key in staged.keys.values()})
    before = rollup.month_nets(months)
    held = list(InvoiceMonth.objects.filter(month__in=months))  # their sources so far
    unpulled = _open_months_the_pull_would_fill(months, held)
    replaced = _claim_months(record, months, held)
    if replaced:  # emptied: every row of the file counts there now
        record.rows_new = staging.select_new()
    record.rows_known = staged.rows_read - record.rows_new
    staging.claim_new(record.pk)
    sums = {staged.keys[digest]: s for digest, s in staging.new_sums().items()}
    try:
        rollup.add(sums, Attributor())
    except rollup.BucketOverflow as exc:
        raise refused(record.file_name, str(exc)) from None
    after = rollup.month_nets(months)
    record.months = {
        m: {"before": cents(before[m]), "after": cents(after[m])}
        | _flag("replaced", m in replaced)
        | _flag("pull_leaves", m in unpulled)
        for m in months
    }
    finish(record, ImportStatus.SUCCEEDED, _summary(record, replaced, unpulled))
    audit.record("billing.imported", actor=actor, obj=record, detail=_detail(record))


def _check_keys(staged: Staged, name: str) -> None:
    """Refuse rows no export of this billing account holds: in another currency than the
    account's, or of a usage day still to come. Names the first such line."""
    currency = PlatformSettings.load().currency
    latest = pacific_today()  # the export lags hours behind usage: no day of it is to come
    bad = {
        digest: key
        for digest, key in staged.keys.items()
        if key.currency != currency or key.usage_day > latest
    }
    if not bad:
        return
    line, digest = staging.first_line(list(bad))
    key = bad[digest]
    if key.currency != currency:
        raise refused(
            f"{name}:{line}",
            f'currency: "{key.currency}" is not the billing account\'s currency ({currency}, '
            "[billing] currency in the platform file); an export holds one account's rows",
        )
    raise refused(
        f"{name}:{line}",
        f"usage_start_time: its usage day {key.usage_day} (US/Pacific) is still to come; an "
        "export holds only usage that happened",
    )


# Each file format: (one file, files), as a sentence names them.
FILE_FORMATS = {
    "bq-json": ("a BigQuery export file (NDJSON)", "BigQuery export files (NDJSON)"),
    "cost-table-csv": ("a Cost table CSV", "Cost table CSVs"),
}


def _claim_months(record: BillingImport, months: list[str], held: list[InvoiceMonth]) -> list[str]:
    """The months become this format's files' months. Refused, unless the user asked to
    replace the months: a pulled month, one counted from files of the other format (the
    same usage, summed differently), and for a Cost table one whose Cost table lines it
    gives other amounts (see `_refuse_a_second_cost_table`). Asked to replace, every month
    the file falls in is emptied first (audited); those are returned. Runs before the new
    rows are counted. `held`: the months' InvoiceMonth rows, those that have one."""
    pulled = sorted(m.month for m in held if m.source == ImportSource.PULL)
    other = sorted(
        m.month
        for m in held
        if m.source == ImportSource.FILE and m.file_format not in ("", record.format)
    )
    if pulled and not record.replace_months:
        listed = ", ".join(pulled)
        others = [m for m in months if m not in pulled]
        also = (
            f", which counts {', '.join(others)} too from this file alone. To keep the "
            f"pull's figures and import the rest, leave the file's rows of {listed} out"
            if others
            else ""
        )
        raise RefusedFile(
            f"{record.file_name}: its rows fall in {listed}, whose figures come from the "
            "BigQuery pull (the whole month, every export row already in it); importing the "
            "file would count them twice — refused, nothing imported. To replace the pulled "
            f'figures of {listed} with files, import it again with "replace the month" '
            f"(import_billing --replace-months), audited{also}"
        )
    if other and not record.replace_months:
        listed = ", ".join(other)
        theirs = FILE_FORMATS[next(m.file_format for m in held if m.month == other[0])][1]
        mine = FILE_FORMATS[record.format][0]
        raise RefusedFile(
            f"{record.file_name}: its rows fall in {listed}, whose figures come from {theirs}; "
            f"{mine} holds the same usage summed differently, so importing it would count it "
            "twice — refused, nothing imported. "
            f"To replace the figures of {listed} with this file, import it again with "
            '"replace the month" (import_billing --replace-months), audited'
        )
    if record.format == "cost-table-csv" and not record.replace_months:
        _refuse_a_second_cost_table(record, held)
    replaced = sorted(m.month for m in held) if record.replace_months else []
    if replaced:
        CostDaily.objects.filter(invoice_month__in=replaced).delete()
        BillingRow.objects.filter(invoice_month__in=replaced).delete()
        audit.record(
            "billing.months_replaced",
            actor=record.created_by or record.actor,
            obj=record,
            detail={
                "months": replaced,
                "by": "file",
                "file_name": record.file_name,
                "format": record.format,
            },
        )
    for month in months:
        InvoiceMonth.objects.update_or_create(
            month=month,
            defaults={
                "source": ImportSource.FILE,
                "file_format": record.format,
                "last_import": record,
            },
        )
    return replaced


def _refuse_a_second_cost_table(record: BillingImport, held: list[InvoiceMonth]) -> None:
    """A Cost table into a month counted from another: its new lines must be new lines (a
    later period, other SKUs), not other amounts for lines counted already (a newer
    download of the same period, whose lines grew)."""
    counted = {m.month: m for m in held if m.file_format == "cost-table-csv"}
    grown = sorted(
        month
        for month, digests in staging.new_keys_by_month().items()
        if month in counted
        and CostDaily.objects.filter(invoice_month=month, key_hash__in=digests).exists()
    )
    if not grown:
        return  # none, or the same lines again, or lines of their own: they add up
    listed = ", ".join(grown)
    earlier = counted[grown[0]].last_import
    named = f" ({earlier.file_name})" if earlier is not None else ""
    raise RefusedFile(
        f"{record.file_name}: its rows fall in {listed}, already counted from a Cost table "
        f"CSV{named} that has other amounts for some of its lines (the same day, project, "
        "service and SKU); a Cost table's lines are totals of the period it covers, so a "
        "newer download's lines whose amounts changed would count twice — refused, nothing "
        f"imported. To count {listed} from this file instead, import it again with "
        '"replace the month" (import_billing --replace-months), audited'
    )


def _format(fmt: str, name: str, start: bytes) -> str:
    """The file's format: as asked, or detected from the start of its content ("auto")."""
    if fmt not in FORMATS:
        raise RefusedFile(f"{name}: unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
    if fmt != "auto":
        return fmt
    if start[:1] in (b"{", b""):
        return "bq-json"
    if start[:1] == b"[":
        raise refused(
            name,
            "a JSON array; the importer reads the export as newline-delimited JSON, one "
            "object a line (bq extract --destination_format NEWLINE_DELIMITED_JSON)",
        )
    if cost_table.looks_like(start):
        return "cost-table-csv"
    first_line = start.split(b"\n", 1)[0]
    for separator, said in ((b";", "semicolons"), (b"\t", "tabs")):
        if separator in first_line:
            raise refused(
                name,
                f"a table separated by {said} (as a spreadsheet saves CSV in some settings); "
                "a Cost table CSV is separated by commas: save it as CSV with commas",
            )
    raise refused(
        name,
        "neither a BigQuery billing export in NDJSON (one JSON object a line) nor a "
        "Cloud Billing Cost table CSV",
    )


def _stage(
    path: Path, name: str, reader: HashingReader, progress_id: int | None, fmt: str, size: int
) -> Staged:
    """Stream the file into the staging tables; a bad line raises RefusedFile. A big
    export is parsed by worker processes (`fanout`), the rest here."""
    workers = fanout.worker_count(size) if fmt == "bq-json" else 0
    shared = fanout.shared_path(path, reader.raw) if workers else None
    account = PlatformSettings.load().billing_account
    if shared is not None:
        staged = fanout.stage(shared, name, workers, progress_id, account)
        while reader.read(CHUNK):  # the file's SHA-256
            pass
        return staged
    staged = Staged()
    digests: dict[RowKey, bytes] = {}
    new_keys: list[tuple[bytes, RowKey]] = []
    rows: list[tuple] = []
    credits: list[tuple] = []
    if fmt == "cost-table-csv":
        currency = PlatformSettings.load().currency
        source = _batched(cost_table.json_lines(path, reader, name, currency, account))
    else:
        source = (enumerate(block, first) for first, block in blocks(path, reader, name))
    for numbered in source:
        before = staged.rows_read
        staged.rows_read += stage_lines(numbered, name, digests, rows, credits, new_keys, account)
        if len(rows) >= staging.BATCH:
            staging.write(rows, credits)
            rows, credits = [], []
        if progress_id is not None and progress.due(before, staged.rows_read):
            progress.report(progress_id, staged.rows_read, reader.bytes_read)
    staging.write(rows, credits)
    staged.keys = dict(new_keys)
    return staged


def _batched(numbered: Iterator[tuple[int, bytes]], size: int = 1000) -> Iterator[list]:
    while batch := list(islice(numbered, size)):
        yield batch


def lock(progress_id: int | None = None, rows: int = 0, bytes_read: int = 0) -> None:
    """Serialise imports, until the transaction ends: two overlapping files at once must
    not both count a row. While another import holds it, the page of `progress_id` says
    this one (`rows` and `bytes_read` so far) is waiting; then that it counts its rows."""
    if connection.vendor == "postgresql":  # SQLite: the transaction holds its write lock
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])
            if not cursor.fetchone()[0]:
                if progress_id is not None:
                    progress.report(progress_id, rows, bytes_read, waiting=True)
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])
    if progress_id is not None:
        progress.report(progress_id, rows, bytes_read, counting=True)


def _drain(reader: HashingReader, record: BillingImport) -> None:
    """Finish the SHA-256 of a refused file, so its history row names the file exactly."""
    while reader.read(1 << 20):
        pass
    record.sha256 = reader.sha256.hexdigest()


def finish(record: BillingImport, status: str, message: str) -> None:
    record.status = status
    record.message = message
    record.finished_at = timezone.now()
    if status != ImportStatus.SUCCEEDED:
        record.rows_read = record.rows_new = record.rows_known = 0
        record.months = {}
    record.save()


def _flag(name: str, value: bool) -> dict:
    return {name: True} if value else {}


def _open_months_the_pull_would_fill(months: list[str], held: list[InvoiceMonth]) -> list[str]:
    """Of `months`, the open ones no source holds yet while the daily BigQuery pull is
    configured: once a file's rows are in them, they come from files and the pull
    leaves them."""
    if not PlatformSettings.load().export_table:
        return []
    sourced = {m.month for m in held}
    return [m for m in months if m in open_months(pacific_today()) and m not in sourced]


def _summary(record: BillingImport, replaced: list[str], unpulled: list[str]) -> str:
    said = (
        f"{record.rows_read} row{'' if record.rows_read == 1 else 's'} read: "
        f"{record.rows_new} new, {record.rows_known} already known"
    )
    if replaced:
        said += f"; {', '.join(replaced)} replaced (emptied, then counted from this file)"
    if unpulled:
        said += "; " + pull_leaves(unpulled)
    return said


def pull_leaves(months: list[str]) -> str:
    listed = ", ".join(months)
    return (
        f"{listed} now {'comes' if len(months) == 1 else 'come'} from files: the daily "
        f"BigQuery pull leaves {'it' if len(months) == 1 else 'them'} (pull_billing --month "
        f"{months[0]} --replace gives {'it' if len(months) == 1 else 'them'} back to the pull)"
    )


def _detail(record: BillingImport) -> dict:
    return {
        "file_name": record.file_name,
        "sha256": record.sha256,
        "status": record.status,
        "message": record.message[:500],
        "rows_read": record.rows_read,
        "rows_new": record.rows_new,
        "rows_known": record.rows_known,
        "months": record.months,
    }
