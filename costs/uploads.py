"""Export files uploaded on the Costs page: a small one is imported at once, a larger one
is queued as a job on the `billing` queue (the page shows its progress until it ends).

The file waits in BILLING_UPLOAD_DIR, which the web and the worker processes share, and
is deleted once imported or refused. Only finance (or admin) may import.
"""

import logging
import uuid
from pathlib import Path

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

from costs import running
from costs.export_file import is_gzip
from costs.importer import FORMATS, finish, import_file
from costs.models import BillingImport, ImportSource, ImportStatus
from platform_admin import audit
from platform_admin.models import Role
from platform_admin.roles import require

log = logging.getLogger(__name__)
GZIP_EXPANSION = 16  # content a gzip upload is counted as holding, per byte
NOT_QUEUED = (
    "could not be queued: the job queue (the worker's Redis) did not answer — nothing "
    "imported. Upload the file again once it is up"
)


class UploadError(Exception):
    """The upload cannot be taken; the message says why. Nothing was recorded."""


def accept(user, uploaded, fmt: str = "auto", replace_months: bool = False) -> BillingImport:
    """Import `uploaded` (a Django UploadedFile) now or as a job; returns its history row."""
    require(user, Role.FINANCE, action="import billing data")  # the bill is every environment's
    if uploaded is None:
        raise _refused(user, "", "Choose an export file to upload.")
    if fmt not in FORMATS:
        raise _refused(
            user, uploaded.name, f"Unknown format {fmt[:40]!r}: use one of {', '.join(FORMATS)}."
        )
    if not uploaded.size:
        raise _refused(
            user, uploaded.name, f"{uploaded.name}: the file is empty — nothing imported."
        )
    folder = Path(settings.BILLING_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.upload"
    with open(path, "wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    name = Path(uploaded.name).name[:255]
    # Imported within the request when small: gzip by what it may hold (an export
    # compresses about tenfold), so a big export never waits in the request unseen.
    content = uploaded.size * (GZIP_EXPANSION if is_gzip(path) else 1)
    inline = content <= settings.BILLING_INLINE_IMPORT_BYTES
    record = BillingImport.objects.create(
        source=ImportSource.FILE,
        file_name=name,
        size_bytes=uploaded.size,
        format=fmt,
        created_by=user,
        actor=user.get_username(),
        status=ImportStatus.QUEUED,
        replace_months=replace_months,
        client_ip=audit.current_ip(),
        upload_path=str(path),  # removed with the record's end, however its process ends
    )
    if inline:
        try:
            import_file(path, actor=user, fmt=fmt, record=record, replace_months=replace_months)
        except Exception:  # recorded as errored, logged: the page shows its sentence
            record.refresh_from_db()
        finally:
            path.unlink(missing_ok=True)
        return record
    try:
        job = django_rq.get_queue("billing", commit_mode="auto").enqueue(  # now: it can fail
            "costs.jobs.import_upload", record.pk, job_timeout=3 * 3600, result_ttl=3600
        )
    except RedisError as exc:
        path.unlink(missing_ok=True)
        log.error("billing upload %s could not be queued", record.pk, exc_info=exc)
        finish(record, ImportStatus.ERRORED, NOT_QUEUED)
        audit.record("billing.errored", actor=user, obj=record, detail={"file_name": name})
        return record
    BillingImport.objects.filter(pk=record.pk).update(job_id=job.id)
    audit.record(
        "billing.upload_queued",
        actor=user,
        obj=record,
        detail={"file_name": name, "size_bytes": uploaded.size, "replace_months": replace_months},
    )
    return record


def _refused(user, name: str, sentence: str) -> UploadError:
    """An upload refused before it is recorded: audited, the sentence for the page."""
    audit.record(
        "billing.upload_refused",
        actor=user,
        detail={"file_name": Path(name).name[:255], "message": sentence},
    )
    return UploadError(sentence)


def run_queued(import_id: int) -> BillingImport | None:
    """The job: import a queued upload (once: a second delivery finds it started)."""
    record = BillingImport.objects.select_related("created_by").filter(pk=import_id).first()
    if record is None:
        return None
    with running.holding(record):  # before it shows running, so that it is never seen stopped
        claimed = BillingImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.RUNNING
        )
        if not claimed:
            return None
        record.status = ImportStatus.RUNNING
        return _run_claimed(record)


def _run_claimed(record: BillingImport) -> BillingImport:
    path = Path(record.upload_path)
    try:
        if not path.exists():
            gone = f"the uploaded file is gone from {settings.BILLING_UPLOAD_DIR}"
            finish(record, ImportStatus.ERRORED, gone)
            return record
        return import_file(
            path,
            actor=record.created_by or record.actor,
            file_name=record.file_name,
            fmt=record.format or "auto",
            replace_months=record.replace_months,
            record=record,
            report_progress=True,
        )
    finally:
        path.unlink(missing_ok=True)
