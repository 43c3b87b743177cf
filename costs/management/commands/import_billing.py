"""`python manage.py import_billing PATH [--format FORMAT] [--replace-months]`."""

from django.core.management.base import BaseCommand, CommandError

from costs.importer import FORMATS, import_file
from costs.models import ImportStatus


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
        try:
            record = import_file(path, actor="cli", fmt=format, replace_months=replace_months)
        except OSError as exc:  # the file could not be opened: no import was recorded
            raise CommandError(f"{path}: {exc.strerror} — nothing imported") from None
        except KeyboardInterrupt:  # recorded as stopped by the importer
            raise CommandError("interrupted: nothing imported") from None
        if record.status != ImportStatus.SUCCEEDED:
            raise CommandError(record.message)
        self.stdout.write(
            f"{record.file_name}: {record.rows_read} row{'' if record.rows_read == 1 else 's'} "
            f"read, {record.rows_new} new, "
            f"{record.rows_known} already known"
        )
        for month, net in record.months.items():
            self.stdout.write(f"  invoice month {month}: net {net['before']} -> {net['after']}")
