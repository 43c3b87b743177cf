"""Uploading an export on the Costs page: finance only; a small file imported at once, a
large one as a job on the `billing` queue (a real RQ worker) with its progress shown;
a broken file or one into a pulled month refused with the sentence, nothing changed."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import gzip

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from costs.models import BillingImport, CostDaily, ImportSource, InvoiceMonth
from costs.report import month_report
from platform_admin.models import AuditEvent
from tests.costs.conftest import export_row, ndjson
from tests.deployments.conftest import wait_for

STAGING = {"env": "staging", "app": "api-server"}


def _upload(client, name: str, data: bytes, **form):
    return client.post(
        "/costs/import/", {"file": SimpleUploadedFile(name, data), "format": "auto", **form}
    )


@pytest.mark.django_db
def test_carol_uploads_an_export_and_the_month_moves_by_its_new_rows(
    client, carol, platform, upload_dir
):
    client.force_login(carol)
    first = ndjson([export_row("10.00", labels=STAGING), export_row("2.50", labels=STAGING)])
    _upload(client, "first.jsonl", first)
    overlapping = ndjson([export_row("2.50", labels=STAGING), export_row("0.25", labels=STAGING)])

    response = _upload(client, "second.jsonl.gz", gzip.compress(overlapping))

    record = BillingImport.objects.get(file_name="second.jsonl.gz")
    assert response.status_code == 302 and response["Location"] == f"/costs/imports/{record.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "2 rows read: 1 new, 1 already known" in page
    assert "12.50" in page and "12.75" in page  # the month's net before and after
    assert month_report("2026-10")["environments"]["staging"]["net"] == "12.75"
    assert record.created_by == carol and not list(upload_dir.iterdir())  # nothing left behind


@pytest.mark.django_db
def test_alice_cannot_import(client, alice, platform, upload_dir):
    client.force_login(alice)
    response = _upload(client, "x.jsonl", ndjson([export_row()]))
    assert response.status_code == 403
    assert "alice needs the finance role" in response.content.decode()  # says why
    assert not BillingImport.objects.exists() and not CostDaily.objects.exists()


@pytest.mark.django_db
def test_a_broken_file_is_refused_with_line_and_field_and_changes_nothing(
    client, carol, platform, upload_dir
):
    client.force_login(carol)
    broken = export_row("1.00")
    broken["cost"] = "twelve dollars"
    bad = ndjson([export_row("1.00"), broken])

    page = client.get(_upload(client, "export.jsonl", bad)["Location"]).content.decode()

    assert "export.jsonl:2: cost: &quot;twelve dollars&quot; is not a number" in page
    assert "refused, nothing imported" in page
    assert not CostDaily.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("cut", [lambda d: d[:10], lambda d: d[: len(d) // 2]])
def test_a_broken_gzip_upload_is_refused_naming_the_uploaded_file(
    client, carol, platform, upload_dir, cut
):
    """Cut in its header (not readable at all) or in its data (broken at a line)."""
    client.force_login(carol)
    data = gzip.compress(ndjson([export_row(f"{n}.00", sku=f"S{n}") for n in range(3000)]))

    page = client.get(_upload(client, "oct.jsonl.gz", cut(data))["Location"]).content.decode()

    record = BillingImport.objects.get()
    assert record.status == "refused" and record.message.startswith("oct.jsonl.gz"), record.message
    assert "gzip" in record.message and record.message in page
    assert ".upload" not in record.message and not CostDaily.objects.exists()


@pytest.mark.django_db
def test_a_file_into_a_pulled_month_is_refused_unless_replacing(
    client, carol, platform, upload_dir
):
    InvoiceMonth.objects.create(month="2026-10", source=ImportSource.PULL)
    client.force_login(carol)
    data = ndjson([export_row("4.00", labels=STAGING)])

    refused = client.get(_upload(client, "oct.jsonl", data)["Location"]).content.decode()
    assert "whose figures come from the BigQuery pull" in refused
    assert not CostDaily.objects.exists()

    replaced = client.get(
        _upload(client, "oct.jsonl", data, replace_months="on")["Location"]
    ).content.decode()
    assert "Succeeded" in replaced
    assert InvoiceMonth.objects.get(month="2026-10").source == "file"


def test_a_large_upload_runs_as_a_job_and_shows_its_progress(
    client, carol, platform, billing_worker, settings
):
    settings.BILLING_INLINE_IMPORT_BYTES = 1000
    rows = [
        export_row(
            f"0.{i % 100:02d}", labels=STAGING, start=f"2026-10-{1 + i % 28:02d} 15:00:00 UTC"
        )
        for i in range(60_000)
    ]
    client.force_login(carol)

    location = client.post(
        "/costs/import/",
        {"file": SimpleUploadedFile("big.jsonl", ndjson(rows)), "format": "auto"},
        REMOTE_ADDR="203.0.113.9",
    )["Location"]

    record = BillingImport.objects.get(file_name="big.jsonl")
    assert record.job_id
    seen = []

    def done():
        part = client.get(location + "part/").content.decode()
        if "rows read so far" in part:
            seen.append(part)
        return 'data-active="false"' in part

    wait_for(done, timeout=120, interval=0.1, what="the import job")
    record.refresh_from_db()
    assert record.status == "succeeded" and record.rows_new == 60_000, record.message
    assert seen, "the page never showed the import's progress"
    expected = sum(i % 100 for i in range(60_000))
    assert month_report("2026-10")["environments"]["staging"]["net"] == f"{expected / 100:.2f}"
    # The worker's events are where the upload came from.
    assert AuditEvent.objects.get(action="billing.imported").ip == "203.0.113.9"


@pytest.mark.django_db
def test_an_import_that_crashes_shows_a_sentence_not_a_traceback_and_is_audited(
    client, carol, alice, platform, upload_dir
):
    """A real failure of the database mid-import (a trigger refusing the identities'
    INSERT, as a full disk or a lost server would): errored, nothing imported, the
    traceback in the log and not on a page every user may open."""
    from django.db import connection

    from platform_admin.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION costs_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file (test)'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER costs_test_fail BEFORE INSERT ON costs_billingrow "
            "FOR EACH STATEMENT EXECUTE FUNCTION costs_test_fail()"
        )
    client.force_login(carol)

    response = _upload(client, "oct.jsonl", ndjson([export_row("4.00", labels=STAGING)]))

    record = BillingImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/costs/imports/{record.pk}/"
    assert record.status == "errored"
    assert record.message == (
        "failed on an unexpected error (ProgrammingError: could not extend file (test)) — "
        "nothing imported; the server log has the details"
    )
    client.force_login(alice)
    page = client.get(response["Location"]).content.decode()
    assert record.message in page and "Traceback" not in page and ".py" not in page
    event = AuditEvent.objects.get(action="billing.errored")
    assert event.detail["file_name"] == "oct.jsonl" and event.detail["status"] == "errored"
    assert not CostDaily.objects.exists() and not list(upload_dir.iterdir())


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


@pytest.mark.django_db
def test_an_upload_the_queue_cannot_take_says_so_and_leaves_no_file(
    client, carol, platform, upload_dir, settings, monkeypatch
):
    import django_rq.settings

    from costs.uploads import NOT_QUEUED
    from platform_admin.models import AuditEvent

    settings.BILLING_INLINE_IMPORT_BYTES = 10
    down = {"URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    monkeypatch.setitem(django_rq.settings.QUEUES, "billing", down)
    client.force_login(carol)

    response = _upload(client, "big.jsonl", ndjson([export_row("4.00", labels=STAGING)] * 3))

    record = BillingImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/costs/imports/{record.pk}/"
    assert record.status == "errored" and record.message == NOT_QUEUED
    page = client.get(response["Location"])  # Redis still down: the page still opens
    assert page.status_code == 200 and "could not be queued" in page.content.decode()
    assert not list(upload_dir.iterdir()) and not CostDaily.objects.exists()
    assert AuditEvent.objects.filter(action="billing.errored").count() == 1


@pytest.mark.django_db
def test_a_queued_upload_whose_job_is_lost_says_so_and_its_file_goes(
    client, carol, platform, upload_dir, settings, redis_conn
):
    from rq.job import Job

    from costs.running import LOST

    settings.BILLING_INLINE_IMPORT_BYTES = 10
    client.force_login(carol)
    location = _upload(client, "big.jsonl", ndjson([export_row("4.00", labels=STAGING)] * 3))[
        "Location"
    ]
    record = BillingImport.objects.get()
    assert "Waiting for a worker" in client.get(location).content.decode()  # no worker yet

    Job.fetch(record.job_id, connection=redis_conn).delete()  # as a Redis emptied would

    part = client.get(location + "part/").content.decode()
    record.refresh_from_db()
    assert record.status == "errored" and record.message == LOST
    assert 'data-active="false"' in part and "lost before a worker took it" in part
    assert not list(upload_dir.iterdir())


def test_an_upload_waiting_for_another_import_says_so_then_runs(
    client, carol, platform, billing_worker, settings
):
    import psycopg
    from django.db import connection

    from costs.importer import _IMPORT_LOCK_KEY

    settings.BILLING_INLINE_IMPORT_BYTES = 10
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )
    other.execute("SELECT pg_advisory_lock(%s)", [_IMPORT_LOCK_KEY])  # another import runs
    client.force_login(carol)
    try:
        location = _upload(client, "oct.jsonl", ndjson([export_row("4.00", labels=STAGING)]))[
            "Location"
        ]

        wait_for(
            lambda: (
                "Waiting for another import to finish"
                in client.get(location + "part/").content.decode()
            ),
            timeout=60,
            what="the page to say the upload waits",
        )
    finally:
        other.execute("SELECT pg_advisory_unlock(%s)", [_IMPORT_LOCK_KEY])
        other.close()

    wait_for(
        lambda: 'data-active="false"' in client.get(location + "part/").content.decode(),
        timeout=60,
        what="the import to end",
    )
    assert BillingImport.objects.get().status == "succeeded"


@pytest.mark.django_db
def test_finance_on_one_environment_cannot_import_the_whole_accounts_bill(
    client, platform, upload_dir
):
    """An export holds every environment's rows, and replacing a month empties them all."""
    from django.contrib.auth import get_user_model

    from platform_admin.models import RoleGrant

    dave = get_user_model().objects.create_user("dave", password="x")
    RoleGrant.objects.create(user=dave, role="finance", environment=platform["staging"])
    client.force_login(dave)

    response = _upload(client, "oct.jsonl", ndjson([export_row("0.01")]), replace_months="on")

    assert response.status_code == 403
    assert "dave needs the finance role on every environment to import billing data" in (
        response.content.decode()
    )
    assert 'name="replace_months"' not in client.get("/costs/").content.decode()  # no form
    assert not BillingImport.objects.exists() and not CostDaily.objects.exists()


@pytest.mark.django_db
def test_a_refused_replace_says_nothing_was_replaced_and_the_history_links_to_it(
    client, carol, platform, upload_dir
):
    client.force_login(carol)
    bad = ndjson([export_row("1.00"), {**export_row("2.00"), "cost": "twelve dollars"}])

    location = _upload(client, "bad.jsonl", bad, replace_months="on")["Location"]

    page = client.get(location).content.decode()
    assert "“replace the month” was asked; nothing was replaced" in page
    assert "emptied first" not in page
    assert f'<a href="{location}">' in client.get("/costs/").content.decode()


@pytest.mark.django_db
def test_a_replace_names_the_months_it_emptied_or_says_none_held_figures(
    client, carol, platform, upload_dir
):
    client.force_login(carol)
    first = _upload(client, "a.jsonl", ndjson([export_row("1.00")]), replace_months="on")
    second = _upload(client, "b.jsonl", ndjson([export_row("2.00")]), replace_months="on")

    nothing_held = client.get(first["Location"]).content.decode()
    replaced = client.get(second["Location"]).content.decode()

    assert "none of its months held figures, nothing was replaced" in nothing_held
    assert "2026-10 emptied first, then counted from this file alone" in replaced


@pytest.mark.django_db
def test_an_empty_upload_is_refused_with_a_sentence_and_audited(
    client, carol, platform, upload_dir
):
    from platform_admin.models import AuditEvent

    client.force_login(carol)

    _upload(client, "empty.jsonl", b"")

    assert "empty.jsonl: the file is empty — nothing imported." in (
        client.get("/costs/").content.decode()
    )
    refused = AuditEvent.objects.get(action="billing.upload_refused")
    assert refused.actor == "carol" and refused.detail["file_name"] == "empty.jsonl"
    assert not BillingImport.objects.exists() and not upload_dir.exists()  # nothing written


@pytest.mark.django_db
def test_the_whole_import_history_pages_from_the_costs_page(client, alice, platform):
    from costs.pages import HISTORY

    for n in range(HISTORY + 40):
        BillingImport.objects.create(
            source="file", file_name=f"f{n:03}.jsonl", status="refused", actor="carol"
        )
    client.force_login(alice)  # reading the history is everyone's

    costs = client.get("/costs/").content.decode()
    first = client.get("/costs/imports/").content.decode()
    second = client.get("/costs/imports/?page=2").content.decode()
    past_the_end = client.get("/costs/imports/?page=x9").content.decode()

    assert f"All {HISTORY + 40} imports →" in costs and "f059.jsonl" in costs
    assert "f019.jsonl" not in costs
    assert "f059.jsonl" in first and "f010.jsonl" in first and "f009.jsonl" not in first
    assert "f009.jsonl" in second and "f000.jsonl" in second and "page 2 of 2" in second
    assert "f059.jsonl" in past_the_end  # a page that is no number: the first


def test_a_gzip_upload_is_counted_by_what_it_may_hold_and_runs_as_a_job(
    client, carol, platform, billing_worker, settings
):
    """An export compresses about tenfold: a gzip of half the inline size holds far more
    than the inline size, and is imported with its progress page, not inside the request."""
    rows = ndjson([export_row(f"{n}.00", sku=f"S{n}") for n in range(3000)])
    packed = gzip.compress(rows)
    settings.BILLING_INLINE_IMPORT_BYTES = 2 * len(packed)
    assert len(rows) > settings.BILLING_INLINE_IMPORT_BYTES
    client.force_login(carol)

    location = _upload(client, "oct.jsonl.gz", packed)["Location"]

    record = BillingImport.objects.get(file_name="oct.jsonl.gz")
    assert record.job_id  # queued for the worker
    wait_for(
        lambda: 'data-active="false"' in client.get(location + "part/").content.decode(),
        timeout=60,
        what="the import job",
    )
    record.refresh_from_db()
    assert record.status == "succeeded" and record.rows_new == 3000


def test_an_upload_whose_file_is_read_says_it_counts_its_rows(
    client, carol, platform, billing_worker
):
    """The last part of an import (its rows against those counted before, then into the
    month) takes seconds for a big file: its page says so rather than "100% read"."""
    from django.db import transaction

    from costs import running
    from costs.importer import lock

    record = BillingImport.objects.create(
        source="file", file_name="big.jsonl", status="running", size_bytes=10, actor="carol"
    )
    client.force_login(carol)
    with running.holding(record), transaction.atomic():
        lock(record.pk, rows=5, bytes_read=10)  # as the import does once its file is read

        part = client.get(f"/costs/imports/{record.pk}/part/").content.decode()

    assert "Counting: all 5 rows read; finding those not counted before" in part
