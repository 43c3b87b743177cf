"""`python manage.py import_billing PATH [--format FORMAT] [--replace-months]`."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from costs.importer import FORMATS, import_file, pull_leaves
from costs.models import BillingImport, ImportStatus


class Command(BaseCommand):
    help = (
        "Import a GCP billing export file: BigQuery-export NDJSON or the console's Cost "
        "table CSV (optionally gzip), the format detected from the content."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", help="The export file (- or /dev/stdin: standard input, saved first)."
        )
        parser.add_argument("--format", choices=FORMATS, default="auto")
        parser.add_argument(
            "--replace-months",
            action="store_true",
            help=(
                "Replace the figures of the months the file's rows fall in with the "
                "file's, whatever they came from: the BigQuery pull, files of the other "
                "format, an earlier Cost table, earlier files (audited)."
            ),
        )

    def handle(self, *args, path, format, replace_months, **options):
        if not path.strip():
            raise CommandError("give the path of the export file to import — nothing imported")
        if path == "-":
            path = "/dev/stdin"
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None  # as Ctrl-C
        try:
            record = import_file(path, actor="cli", fmt=format, replace_months=replace_months)
        except OSError as exc:  # the file could not be opened: no import was recorded
            raise CommandError(f"{path}: {exc.strerror} — nothing imported") from None
        except KeyboardInterrupt as exc:  # recorded as stopped by the importer
            record = _finished(getattr(exc, "billing_import", None))
            if record is None:
                raise CommandError("interrupted: nothing imported") from None
            self.stderr.write("interrupted as the import finished: it is complete")
        except Exception as exc:  # recorded as errored (when it got that far), logged
            first = next(iter(str(exc).strip().splitlines()), "")[:300]
            raise CommandError(
                f"failed on an unexpected error ({type(exc).__name__}: {first}) — nothing imported"
            ) from None
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
        if record.status != ImportStatus.SUCCEEDED:
            raise CommandError(record.message)
        self.stdout.write(
            f"{record.file_name}: {record.rows_read} row{'' if record.rows_read == 1 else 's'} "
            f"read, {record.rows_new} new, "
            f"{record.rows_known} already known"
        )
        for month, net in record.months.items():
            self.stdout.write(
                f"  invoice month {month}: net {net['before']} -> {net['after']}"
                + (
                    " (replaced: emptied, then counted from this file)"
                    if net.get("replaced")
                    else ""
                )
            )
        unpulled = [month for month, net in record.months.items() if net.get("pull_leaves")]
        if unpulled:
            self.stdout.write(f"  {pull_leaves(unpulled)}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _finished(record: BillingImport | None) -> BillingImport | None:
    """The interrupted import, if it had committed all the same (Ctrl-C at its COMMIT)."""
    if record is None:
        return None
    try:
        connection.close()  # the interrupt may have cut the connection mid-answer
        return BillingImport.objects.filter(pk=record.pk, status=ImportStatus.SUCCEEDED).first()
    except DatabaseError:
        return None
