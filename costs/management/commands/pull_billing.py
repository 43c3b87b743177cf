"""`python manage.py pull_billing [--month YYYY-MM] [--replace]`."""

from django.core.management.base import BaseCommand, CommandError

from costs import pull
from costs.models import ImportStatus
from platform_admin import gcp


class Command(BaseCommand):
    help = (
        "Pull invoice months from the BigQuery billing export (the platform file's "
        "[billing] export_table): the open months by default, or --month. Each pulled "
        "month replaces that month's figures whole."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="Invoice month YYYY-MM (default: the open months).")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace a month whose figures came from imported files (audited).",
        )

    def handle(self, *args, month, replace, **options):
        if month is not None and (problem := pull.month_problem(month)):  # records no pull
            raise CommandError(f"{problem} — nothing pulled")
        months = [month] if month else pull.open_months(pull.today())
        failed = False
        for each in months:  # one failing month does not stop the other
            try:
                record = pull.pull_month(each, actor="cli", replace=replace)
            except gcp.GcpError as exc:  # recorded as errored, with the sentence
                record = exc.billing_import
            except KeyboardInterrupt:  # the month being pulled is recorded as stopped
                raise CommandError("interrupted: the month being pulled is unchanged") from None
            if record.status != ImportStatus.SUCCEEDED:
                failed = True
                self.stderr.write(f"{each}: {record.message}")
                continue
            net = record.months[each]
            self.stdout.write(
                f"{each}: {record.rows_read} export rows, net {net['before']} -> {net['after']}"
            )
        if failed:
            raise CommandError(
                "some months were not pulled (see above)" if len(months) > 1 else "not pulled"
            )
