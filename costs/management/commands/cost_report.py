"""`python manage.py cost_report --month YYYY-MM --format json|csv|table`."""

import json

from django.core.management.base import BaseCommand, CommandError

from costs.report import as_csv, as_table, month_report


class Command(BaseCommand):
    help = "A month's costs (invoice month) per environment and GCP service."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="invoice month, YYYY-MM")
        parser.add_argument("--format", choices=["json", "csv", "table"], default="table")

    def handle(self, *args, month, format, **options):
        try:
            report = month_report(month)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if format == "json":
            self.stdout.write(json.dumps(report, indent=2))
        elif format == "csv":
            self.stdout.write(as_csv(report), ending="")
        else:
            self.stdout.write(as_table(report), ending="")
