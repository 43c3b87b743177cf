"""`python manage.py check_cost_alerts [--month YYYY-MM]`."""

from django.core.management.base import BaseCommand, CommandError

from costs import services
from costs.report import is_month, not_a_month


class Command(BaseCommand):
    help = (
        "Check the budget alerts (actual and forecast at 50/90/100% of the target) and the "
        "daily cost anomalies of the open invoice months, or of --month; post and record "
        "the ones not fired yet (each fires once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="Invoice month YYYY-MM (default: the open months).")

    def handle(self, *args, month, **options):
        if month and not is_month(month):
            raise CommandError(not_a_month(month))
        fired = services.check_alerts([month] if month else None)
        for message in dict.fromkeys(a.message for a in fired):  # a message per post
            self.stdout.write(message)
        self.stdout.write(f"{len(fired)} new alert{'s' if len(fired) != 1 else ''}.")
